import type { FinishReason, WorkflowEdge, WorkflowNode } from '@astron-chat/shared';
import { AppError } from '../errors/app-error.ts';
import type { BotInput, ExecutionPart } from './execution.ts';
import type { NodeOutputs } from './template.ts';

/** A DAG ready to run: checked when saved, compiled once per bot version. */
export type CompiledGraph = {
  nodes: ReadonlyMap<string, WorkflowNode>;
  outgoing: ReadonlyMap<string, WorkflowEdge[]>;
  incoming: ReadonlyMap<string, WorkflowEdge[]>;
  startId: string;
  /** Whether step events reach the caller (off for plain `chat` bots, which have one model call). */
  reportSteps: boolean;
};

/** Parts a node may send the caller; anything but usage counts as streamed output (no retry after it). */
export type NodePart = Extract<ExecutionPart, { type: 'text-delta' | 'reasoning-delta' | 'tool-call' | 'usage' }>;

/** What one attempt of one node is given; the contract between the engine and the node runners. */
export type NodeContext = {
  node: WorkflowNode;
  outputs: NodeOutputs;
  input: BotInput;
  signal: AbortSignal;
  emit(part: NodePart): void;
  /** Run-wide index for `tool-call` events. */
  nextToolIndex(): number;
};

export type NodeResult = {
  output: Record<string, unknown>;
  /** A condition's chosen branch (`else` when none held). */
  branch?: string;
  /** Set by agents that stopped at `maxLoopCount`. */
  finishReason?: FinishReason;
};

export type NodeRunner = (context: NodeContext) => Promise<NodeResult>;

export function compileGraph(nodes: WorkflowNode[], edges: WorkflowEdge[], reportSteps = true): CompiledGraph {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const outgoing = new Map<string, WorkflowEdge[]>(nodes.map((node) => [node.id, []]));
  const incoming = new Map<string, WorkflowEdge[]>(nodes.map((node) => [node.id, []]));
  for (const edge of edges) {
    outgoing.get(edge.source)?.push(edge);
    incoming.get(edge.target)?.push(edge);
  }
  const start = nodes.find((node) => node.type === 'start');
  if (!start) throw new AppError('WORKFLOW_ERROR', 'The workflow has no start node.');
  return { nodes: byId, outgoing, incoming, startId: start.id, reportSteps };
}
