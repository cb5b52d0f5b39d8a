import { TEMPLATE_REFERENCE } from '@astron-chat/shared';

/** What earlier nodes produced, by node id. A skipped node has no entry and renders as empty. */
export type NodeOutputs = ReadonlyMap<string, Record<string, unknown>>;

/** Reads `node.field(.deeper)`; undefined when any step is missing. */
export function readVariable(outputs: NodeOutputs, reference: string): unknown {
  const [nodeId = '', ...path] = reference.split('.');
  let value: unknown = outputs.get(nodeId);
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

export function toText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Replaces every `{{node_id.field}}`; references were checked when the definition was saved. */
export function renderTemplate(template: string, outputs: NodeOutputs): string {
  return template.replace(TEMPLATE_REFERENCE, (_match, reference: string) =>
    toText(readVariable(outputs, reference.trim())),
  );
}
