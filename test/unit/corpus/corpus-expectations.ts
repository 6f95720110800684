/**
 * What `taupage validate` must say about each file of ../shared/corpus (real TaupageConfigs cut
 * out of public repositories; see its README.md). Every shape the original runtime accepted is
 * accepted — with warnings for unknown, third-party and legacy keys. The only errors are the
 * deliberate policy the original enforced at boot (a mutable or missing image tag) and fragments
 * without `runtime`/`source`; the two files that are not plain YAML give one located parse error.
 *
 * A change in behaviour shows up as a diff of this table.
 */
export type CorpusExpectation =
  | { readonly outcome: 'valid' }
  | { readonly outcome: 'errors'; readonly paths: readonly string[]; readonly why: string }
  | { readonly outcome: 'parse-error'; readonly line: number; readonly why: string };

const valid: CorpusExpectation = { outcome: 'valid' };
const errors = (why: string, ...paths: string[]): CorpusExpectation => ({ outcome: 'errors', paths, why });
const LATEST = 'mutable tag :latest';
const NO_TAG = 'image without a tag';
const FRAGMENT = 'fragment without runtime and source';

export const CORPUS_EXPECTATIONS: Readonly<Record<string, CorpusExpectation>> = {
  '001-senza-account-values.yaml': valid,
  '002-senza-autoscaling-hello-world.yaml': valid,
  '003-senza-cross-stack-output-refs.yaml': valid,
  '004-senza-elastigroup.yaml': errors(LATEST, 'source'),
  '005-senza-passing-a-stage.yaml': valid,
  '006-senza-timed-startup.yaml': valid,
  '007-senza-readme-kio-2015.yaml': valid,
  '008-senza-readme-kio.yaml': valid,
  '009-taupage-test-userdata.yaml': valid,
  '010-taupage-test-userdata-2015-two-raids.yaml': errors(NO_TAG, 'source'),
  '011-taupage-test-userdata-2016-sysctl-entries.yaml': valid,
  '012-taupage-test-userdata-2016-disable-thp.yaml': valid,
  '013-taupage-test-userdata-2015-zalando-ami-config.yaml': errors(NO_TAG, 'source'),
  '014-taupage-test-batchdata.yaml': valid,
  '015-kio-example.yaml': valid,
  '016-pierone-example.yaml': valid,
  '017-even-example.yaml': valid,
  '018-yourturn-example.yaml': valid,
  '019-gpu-hello-world-deploy.yaml': valid,
  '020-stups-etcd-cluster-etcd-cluster.yaml': valid,
  '021-stups-etcd-cluster-etcd-cluster-2016.yaml': valid,
  '022-stups-etcd-cluster-multiregion.yaml': valid,
  '023-fullstop-taupage01.yaml': valid,
  '024-fullstop-missing-app-version.yaml': valid,
  '025-fullstop-userdata-minimal.yaml': errors(FRAGMENT, 'runtime', 'source'),
  '026-documentation-taupage-doc-example.yaml': valid,
  '028-documentation-taupage-doc-2015-logrotate-filesize.yaml': valid,
  '030-documentation-taupage-doc-2015-readonly.yaml': valid,
  '031-documentation-taupage-doc-2015-volumes-name-to-device.yaml': errors(LATEST, 'source'),
  '032-documentation-storage-ebs.yaml': errors('docs placeholder source "..." has no tag', 'source'),
  '033-documentation-senza-cross-stack-fragment.yaml': errors(FRAGMENT, 'runtime', 'source'),
  '034-lizzy-readme.yaml': valid,
  '035-sevenseconds-odd-bastion-ami-config.yaml': errors(LATEST, 'source'),
  '036-planb-cassandra-generate-taupage-user-data.yaml': valid,
  '037-nakadi-senza.yaml': valid,
  '038-skipper-senza.yaml': valid,
  '039-spilo-spilo.yaml': valid,
  '040-spilo-postgres-appliance-2015.yaml': valid,
  '041-spilo-test-hello-world.yaml': valid,
  '042-spilo-etcd-cluster-appliance.yaml': valid,
  '043-zappr-hackweek.yaml': valid,
  '044-zappr-live.yaml': valid,
  '046-PGObserver-gatherer.yaml': valid,
  '047-PGObserver-influxdb.yaml': valid,
  '048-PGObserver-grafana.yaml': valid,
  '049-PGObserver-exporter.yaml': valid,
  '050-ghe-backup-readme.yaml': valid,
  '051-ghe-backup-test-meta-taupage-yaml.yaml': valid,
  '053-catwatch-ui.yaml': valid,
  '054-kubernetes-on-aws-etcd-cluster.yaml': valid,
  '055-kubernetes-on-aws-etcd-cluster-2018.yaml': valid,
  '056-kubernetes-on-aws-postgres-operator-etcd.yaml': valid,
  '058-exhibitor-appliance-exhibitor-2015.yaml': valid,
  '059-bubuku-generate-taupage-user-data.yaml': valid,
  '060-sea-proxy-senza.yaml': valid,
  '061-flechette-client.yaml': valid,
  '062-flechette-server.yaml': valid,
  '064-stups-cassandra-psycho-ir-octopus-raid.yaml': valid,
  '066-stups-cassandra-sstirbu-backup.yaml': valid,
  '067-cassandra-ebs-tools-userdata-empty-values.yaml': errors('empty source:', 'source'),
  '068-ebs-tools-mount-volumes.yaml': valid,
  '069-ebs-tools-prepare-volumes.yaml': valid,
  '071-taupage-is24-fork-test-userdata-logstash.yaml': errors(NO_TAG, 'source'),
  '072-tf-best-practice-gpu-learner.yaml': valid,
  '074-friboo-hello-world-hello.yaml': valid,
  '075-stups-training-helloworld.yaml': valid,
  '077-stups-crate-crate-raid.yaml': valid,
  '078-pacts-pacts.yaml': valid,
  '080-pacts-etcd.yaml': valid,
  '081-pacts-spilo.yaml': valid,
  '082-stups2go-go-server.yaml': valid,
  '084-stups2go-go-agent-fn-join-userdata.yaml': {
    outcome: 'parse-error',
    line: 11,
    why: 'mustache sections are not YAML',
  },
  '086-jobsite-generator-host-default-todo.yaml': valid,
  '087-jobsite-generator-host-dev.yaml': valid,
  '088-spark-appliance-chutium-spark.yaml': valid,
  '090-ro2key-ro2key.yaml': valid,
  '092-pazuzu-ui-ui.yaml': valid,
  '093-cfn-sphere-instances-taupageuserdata.yaml': {
    outcome: 'parse-error',
    line: 20,
    why: 'CloudFormation !Ref tags',
  },
  '094-cfn-sphere-ec2-instance-taupageuserdata.yaml': errors(FRAGMENT, 'runtime', 'source'),
};

/** The only error messages the corpus may produce: the original's policy, enforced at boot. */
export const POLICY_ERROR = /mutable tag|mutable SNAPSHOT tag|has no tag|^is required \(/;
