// Apart from boot.ts: the status endpoint shows these steps before the boot's code has loaded
// (app/status-endpoint.ts, issue 16).

/** The boot, in the order it runs. Each step is timed and reported (status, logs). */
export const BOOT_STEPS = [
  { name: 'imds', description: 'Read the instance identity and the user data' },
  { name: 'config', description: 'Merge onto the AMI defaults, validate, write taupage.yaml' },
  { name: 'kms', description: 'Decrypt aws:kms: values' },
  { name: 'host', description: 'Prepare the host: sysctl, sysfs, routes, disks, app credentials' },
  { name: 'pull', description: 'Make the Docker image available' },
  { name: 'container', description: 'Create or start the application container' },
  { name: 'health', description: 'Wait for the application health check' },
  { name: 'loadbalancer', description: 'Wait until the load balancer routes to the instance' },
] as const;
