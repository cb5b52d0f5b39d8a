import { describe, expect, it } from 'vitest';
import { checkBotDefinition } from '@astron-chat/shared';

const model = { provider: 'demo' };
const base = () => ({
  kind: 'workflow',
  nodes: [
    { id: 'start', type: 'start' },
    { id: 'ask', type: 'llm', model, prompt: 'Q: {{start.query}}' },
    { id: 'end', type: 'end', template: '{{ask.text}}' },
  ] as Array<Record<string, unknown>>,
  edges: [
    { source: 'start', target: 'ask' },
    { source: 'ask', target: 'end' },
  ] as Array<Record<string, unknown>>,
});

function failure(definition: unknown) {
  const result = checkBotDefinition(definition);
  if (result.success) throw new Error('expected the definition to be refused');
  return { path: result.path, message: result.message };
}

describe('checkBotDefinition', () => {
  it('accepts a good workflow, agent and chat', () => {
    expect(checkBotDefinition(base()).success).toBe(true);
    expect(checkBotDefinition({ kind: 'chat', model }).success).toBe(true);
    expect(checkBotDefinition({ kind: 'agent', model, tools: [] }).success).toBe(true);
  });

  it('refuses unknown node types with the path', () => {
    const definition = base();
    definition.nodes[1] = { id: 'ask', type: 'python', code: 'print(1)' };
    expect(failure(definition)).toMatchObject({
      path: 'nodes.1.type',
      message: expect.stringMatching(/unknown node type/),
    });
  });

  it('refuses dangling edges', () => {
    const definition = base();
    definition.edges.push({ source: 'ask', target: 'ghost' });
    expect(failure(definition)).toEqual({ path: 'edges.2.target', message: 'dangling edge: there is no node "ghost"' });
  });

  it('refuses cycles', () => {
    const definition = base();
    definition.nodes.push({ id: 'again', type: 'template', template: 'x' });
    definition.edges.push({ source: 'ask', target: 'again' }, { source: 'again', target: 'ask' });
    expect(failure(definition)).toMatchObject({
      message: expect.stringMatching(/cycle/),
      path: expect.stringMatching(/^edges\.\d+$/),
    });
  });

  it('refuses unreachable nodes', () => {
    const definition = base();
    definition.nodes.push({ id: 'island', type: 'template', template: 'x' });
    expect(failure(definition)).toEqual({
      path: 'nodes.3',
      message: 'node "island" cannot be reached from the start node',
    });
  });

  it('refuses bad variable references with the exact field', () => {
    const unknownNode = base();
    unknownNode.nodes[2] = { id: 'end', type: 'end', template: '{{nobody.text}}' };
    expect(failure(unknownNode)).toEqual({
      path: 'nodes.2.template',
      message: '{{nobody.text}}: there is no node "nobody"',
    });

    const wrongField = base();
    wrongField.nodes[2] = { id: 'end', type: 'end', template: 'x {{ask.output}}' };
    expect(failure(wrongField)).toMatchObject({
      path: 'nodes.2.template',
      message: expect.stringMatching(/has no output "output"/),
    });

    const notBefore = base();
    notBefore.nodes[1] = { id: 'ask', type: 'llm', model, prompt: '{{end.output}}' };
    expect(failure(notBefore)).toMatchObject({
      path: 'nodes.1.prompt',
      message: expect.stringMatching(/does not run before "ask"/),
    });

    const inCondition = base();
    inCondition.nodes.splice(2, 0, {
      id: 'route',
      type: 'condition',
      branches: [{ id: 'yes', conditions: [{ left: '{{ask.txt}}', operator: 'empty' }] }],
    });
    inCondition.edges = [
      { source: 'start', target: 'ask' },
      { source: 'ask', target: 'route' },
      { source: 'route', target: 'end', sourceHandle: 'yes' },
    ];
    expect(failure(inCondition)).toMatchObject({ path: 'nodes.2.branches.0.conditions.0.left' });
  });

  it('refuses condition edges without a known branch and fail edges without fail-branch', () => {
    const definition = base();
    definition.edges.push({ source: 'ask', target: 'end', sourceHandle: 'fail' });
    expect(failure(definition)).toMatchObject({ path: 'edges.2.sourceHandle' });
  });
});
