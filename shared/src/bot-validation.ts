import type { z } from 'zod';
import { botDefinitionSchema, type AgentTool, type BotDefinition, type WorkflowNode } from './bot.ts';

/** `{{node_id.field}}` or `{{node_id.field.deeper}}`, whitespace allowed inside the braces. */
export const TEMPLATE_REFERENCE = /\{\{\s*([^{}]*?)\s*\}\}/g;

export type TemplateReference = { nodeId: string; path: string[]; raw: string };

/** Parses the references of a template; malformed ones come back with `path: []`. */
export function templateReferences(template: string): TemplateReference[] {
  const references: TemplateReference[] = [];
  for (const match of template.matchAll(TEMPLATE_REFERENCE)) {
    const [nodeId = '', ...path] = (match[1] ?? '').split('.');
    references.push({ nodeId, path, raw: match[0] });
  }
  return references;
}

/** The fields each node type outputs; `error` is there on every node (fail-branch and default outputs). */
export function outputFieldsOf(node: WorkflowNode): { fields: string[]; open: string[] } {
  const common = ['error'];
  switch (node.type) {
    case 'start':
      return { fields: ['query', ...node.inputs.map((input) => input.name), ...common], open: [] };
    case 'llm':
      return { fields: ['text', 'reasoning', ...common], open: [] };
    case 'template':
      return { fields: ['output', ...common], open: [] };
    case 'condition':
      return { fields: ['branch', ...common], open: [] };
    case 'http':
      // `json` holds the parsed response; its inner shape is only known at run time.
      return { fields: ['status', 'body', 'json', ...common], open: ['json'] };
    case 'agent':
      return { fields: ['text', ...common], open: [] };
    case 'end':
      return { fields: ['output', ...common], open: [] };
  }
}

/** The templated fields of a node, each with its path inside the node. */
export function templatedFieldsOf(node: WorkflowNode): Array<{ path: string; template: string }> {
  const fields: Array<{ path: string; template: string | undefined }> = [];
  switch (node.type) {
    case 'start':
      break;
    case 'llm':
      fields.push({ path: 'systemPrompt', template: node.systemPrompt }, { path: 'prompt', template: node.prompt });
      break;
    case 'agent':
      fields.push({ path: 'systemPrompt', template: node.systemPrompt }, { path: 'prompt', template: node.prompt });
      break;
    case 'template':
    case 'end':
      fields.push({ path: 'template', template: node.template });
      break;
    case 'condition':
      node.branches.forEach((branch, branchIndex) =>
        branch.conditions.forEach((condition, conditionIndex) => {
          const at = `branches.${branchIndex}.conditions.${conditionIndex}`;
          fields.push(
            { path: `${at}.left`, template: condition.left },
            { path: `${at}.right`, template: condition.right },
          );
        }),
      );
      break;
    case 'http':
      fields.push({ path: 'url', template: node.url }, { path: 'body', template: node.body });
      for (const [name, value] of Object.entries(node.headers ?? {})) {
        fields.push({ path: `headers.${name}`, template: value });
      }
      break;
  }
  return fields.flatMap((field) =>
    field.template === undefined ? [] : [{ path: field.path, template: field.template }],
  );
}

export type BotDefinitionCheck =
  { success: true; data: BotDefinition } | { success: false; path: string; message: string };

/**
 * Everything a definition must satisfy before it is saved: the schema, and for workflows the
 * graph (known node types, no dangling edges, no cycles, every node reachable from `start`) and
 * variable references that name an earlier node's real output. Failures name the exact path.
 */
export function checkBotDefinition(value: unknown): BotDefinitionCheck {
  const parsed = botDefinitionSchema.safeParse(value);
  if (!parsed.success) return fromZodIssue(parsed.error);
  const definition = parsed.data;
  const problem =
    checkCallerLimits(definition) ??
    (definition.kind === 'workflow'
      ? checkWorkflow(definition)
      : definition.kind === 'agent'
        ? checkTools(definition.tools, 'tools')
        : undefined);
  return problem ? { success: false, ...problem } : { success: true, data: definition };
}

function fromZodIssue(error: z.ZodError): BotDefinitionCheck {
  const issue = error.issues[0];
  const path = issue ? issue.path.map(String).join('.') : '';
  let message = issue?.message ?? 'invalid definition';
  // An unknown node type shows up as a bad discriminator; say it plainly.
  if (issue && issue.code === 'invalid_union' && issue.path.at(-2) === 'nodes') {
    message = `unknown node type; expected one of start, llm, template, condition, http, agent, end`;
  }
  if (issue?.path.at(-1) === 'type' && issue.path.at(-3) === 'nodes') {
    message = `unknown node type; expected one of start, llm, template, condition, http, agent, end`;
  }
  return { success: false, path, message };
}

type Problem = { path: string; message: string };

/** A bot's own parameters must keep within the limits it sets its callers. */
function checkCallerLimits(definition: BotDefinition): Problem | undefined {
  const limits = definition.callerLimits;
  if (!limits || definition.kind === 'workflow') return undefined;
  const own = definition.parameters;
  if (limits.maxTokens !== undefined && own?.maxTokens !== undefined && own.maxTokens > limits.maxTokens) {
    return {
      path: 'parameters.maxTokens',
      message: `is ${own.maxTokens}, over callerLimits.maxTokens (${limits.maxTokens})`,
    };
  }
  if (limits.temperature !== undefined && own?.temperature !== undefined && own.temperature !== limits.temperature) {
    return {
      path: 'callerLimits.temperature',
      message: `pins ${limits.temperature} but parameters.temperature is ${own.temperature}; set one of them`,
    };
  }
  return undefined;
}

function checkTools(tools: AgentTool[], at: string): Problem | undefined {
  const seen = new Set<string>();
  for (const [index, tool] of tools.entries()) {
    if (seen.has(tool.name)) return { path: `${at}.${index}.name`, message: `duplicate tool name "${tool.name}"` };
    seen.add(tool.name);
  }
  return undefined;
}

function checkWorkflow(definition: Extract<BotDefinition, { kind: 'workflow' }>): Problem | undefined {
  const { nodes, edges } = definition;
  const indexById = new Map<string, number>();
  for (const [index, node] of nodes.entries()) {
    if (indexById.has(node.id)) return { path: `nodes.${index}.id`, message: `duplicate node id "${node.id}"` };
    indexById.set(node.id, index);
    if (node.type === 'agent') {
      const problem = checkTools(node.tools, `nodes.${index}.tools`);
      if (problem) return problem;
    }
    if (node.type === 'condition') {
      const branchIds = new Set<string>();
      for (const [branchIndex, branch] of node.branches.entries()) {
        if (branch.id === 'else' || branch.id === 'fail' || branchIds.has(branch.id)) {
          return { path: `nodes.${index}.branches.${branchIndex}.id`, message: `branch id "${branch.id}" is taken` };
        }
        branchIds.add(branch.id);
      }
    }
  }
  const starts = nodes.flatMap((node, index) => (node.type === 'start' ? [index] : []));
  if (starts.length !== 1) {
    return {
      path: starts.length === 0 ? 'nodes' : `nodes.${starts[1]}`,
      message: 'a workflow has exactly one start node',
    };
  }
  if (!nodes.some((node) => node.type === 'end')) return { path: 'nodes', message: 'a workflow needs an end node' };

  const outgoing = new Map<string, string[]>(nodes.map((node) => [node.id, []]));
  const incoming = new Map<string, string[]>(nodes.map((node) => [node.id, []]));
  const seenEdges = new Set<string>();
  for (const [index, edge] of edges.entries()) {
    for (const end of ['source', 'target'] as const) {
      if (!indexById.has(edge[end])) {
        return { path: `edges.${index}.${end}`, message: `dangling edge: there is no node "${edge[end]}"` };
      }
    }
    const source = nodes[indexById.get(edge.source) ?? -1] as WorkflowNode;
    const target = nodes[indexById.get(edge.target) ?? -1] as WorkflowNode;
    if (edge.source === edge.target) return { path: `edges.${index}`, message: `edge from "${edge.source}" to itself` };
    if (target.type === 'start')
      return { path: `edges.${index}.target`, message: 'nothing may lead into the start node' };
    if (source.type === 'end') return { path: `edges.${index}.source`, message: 'an end node has no outgoing edges' };
    const key = `${edge.source}\u0000${edge.target}\u0000${edge.sourceHandle ?? ''}`;
    if (seenEdges.has(key)) return { path: `edges.${index}`, message: 'duplicate edge' };
    seenEdges.add(key);
    const handleProblem = checkHandle(source, edge.sourceHandle);
    if (handleProblem) return { path: `edges.${index}.sourceHandle`, message: handleProblem };
    outgoing.get(edge.source)?.push(edge.target);
    incoming.get(edge.target)?.push(edge.source);
  }
  for (const [index, node] of nodes.entries()) {
    if (
      node.onError?.strategy === 'fail-branch' &&
      !edges.some((edge) => edge.source === node.id && edge.sourceHandle === 'fail')
    ) {
      return {
        path: `nodes.${index}.onError`,
        message: `strategy "fail-branch" needs an edge from "${node.id}" with sourceHandle "fail"`,
      };
    }
  }

  // Cycles: Kahn's algorithm; whatever is left over sits on a cycle.
  const remaining = new Map(nodes.map((node) => [node.id, incoming.get(node.id)?.length ?? 0]));
  const ready = nodes.filter((node) => remaining.get(node.id) === 0).map((node) => node.id);
  let sorted = 0;
  while (ready.length > 0) {
    const id = ready.pop() as string;
    sorted += 1;
    for (const next of outgoing.get(id) ?? []) {
      const left = (remaining.get(next) ?? 0) - 1;
      remaining.set(next, left);
      if (left === 0) ready.push(next);
    }
  }
  if (sorted < nodes.length) {
    const index = edges.findIndex(
      (edge) => (remaining.get(edge.source) ?? 0) > 0 && (remaining.get(edge.target) ?? 0) > 0,
    );
    return { path: `edges.${Math.max(index, 0)}`, message: 'the graph has a cycle; workflows must be acyclic' };
  }

  // Reachability from start, and each node's ancestors for reference checks.
  const startId = nodes[starts[0] ?? 0]?.id ?? '';
  const reachable = new Set<string>([startId]);
  const queue = [startId];
  while (queue.length > 0) {
    for (const next of outgoing.get(queue.shift() as string) ?? []) {
      if (!reachable.has(next)) {
        reachable.add(next);
        queue.push(next);
      }
    }
  }
  for (const [index, node] of nodes.entries()) {
    if (!reachable.has(node.id))
      return { path: `nodes.${index}`, message: `node "${node.id}" cannot be reached from the start node` };
  }

  const ancestors = new Map<string, Set<string>>();
  const ancestorsOf = (id: string): Set<string> => {
    const known = ancestors.get(id);
    if (known) return known;
    const result = new Set<string>();
    for (const parent of incoming.get(id) ?? []) {
      result.add(parent);
      for (const above of ancestorsOf(parent)) result.add(above);
    }
    ancestors.set(id, result);
    return result;
  };
  for (const [index, node] of nodes.entries()) {
    for (const field of templatedFieldsOf(node)) {
      for (const reference of templateReferences(field.template)) {
        const problem = checkReference(reference, node, ancestorsOf(node.id), (id) => nodes[indexById.get(id) ?? -1]);
        if (problem) return { path: `nodes.${index}.${field.path}`, message: problem };
      }
    }
  }
  return undefined;
}

function checkHandle(source: WorkflowNode, handle: string | undefined): string | undefined {
  if (handle === 'fail') {
    return source.onError?.strategy === 'fail-branch'
      ? undefined
      : `"fail" edges need onError.strategy "fail-branch" on node "${source.id}"`;
  }
  if (source.type === 'condition') {
    if (handle === undefined) return `edges from condition "${source.id}" need a sourceHandle: a branch id or "else"`;
    if (handle !== 'else' && !source.branches.some((branch) => branch.id === handle)) {
      return `condition "${source.id}" has no branch "${handle}"`;
    }
    return undefined;
  }
  return handle === undefined ? undefined : `node "${source.id}" has no outcome "${handle}"`;
}

function checkReference(
  reference: TemplateReference,
  node: WorkflowNode,
  ancestors: Set<string>,
  find: (id: string) => WorkflowNode | undefined,
): string | undefined {
  const [field, ...deeper] = reference.path;
  if (!reference.nodeId || field === undefined) return `${reference.raw}: a variable is written {{node_id.field}}`;
  const source = find(reference.nodeId);
  if (!source) return `${reference.raw}: there is no node "${reference.nodeId}"`;
  if (!ancestors.has(source.id)) return `${reference.raw}: node "${source.id}" does not run before "${node.id}"`;
  const outputs = outputFieldsOf(source);
  if (!outputs.fields.includes(field)) {
    return `${reference.raw}: ${source.type} node "${source.id}" has no output "${field}" (it has ${outputs.fields.join(', ')})`;
  }
  if (deeper.length > 0 && !outputs.open.includes(field)) {
    return `${reference.raw}: output "${field}" of "${source.id}" is text and has no fields`;
  }
  return undefined;
}
