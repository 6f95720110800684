/** Port: tell the Auto Scaling group its termination hook's action is done (CONTINUE). */
export interface LifecycleActionCompleter {
  /**
   * CompleteLifecycleAction for this instance. Without `autoScalingGroupName` the adapter looks
   * the group up. Throws LIFECYCLE_ACTION_FAILED (e.g. no action is waiting, no such hook).
   */
  complete(
    action: {
      readonly hookName: string;
      readonly instanceId: string;
      readonly autoScalingGroupName: string | undefined;
    },
    signal: AbortSignal,
  ): Promise<void>;
}
