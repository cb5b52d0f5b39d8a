import type { BotDefinition, BotDefinitionInput } from '@astron-chat/shared';
import type { AppRepository } from './app.repository.ts';
import type { BotRepository } from './bot.repository.ts';

/** The app demo mode seeds; outside demo mode the authenticator refuses it. */
export const DEMO_APP_ID = 'demo-app';
export const DEMO_API_KEY = 'sk-demo';
export const DEMO_SECRET = 'demo-secret';
export const DEMO_BOT_ID = 'demo-bot';
export const UPSTREAM_BOT_ID = 'upstream-bot';
export const DEMO_WORKFLOW_ID = 'demo-workflow';
export const DEMO_AGENT_ID = 'demo-agent';

/** Two parallel branches joined, a condition, a streaming answer and end; all on the demo model. */
export const DEMO_WORKFLOW: BotDefinitionInput = {
  kind: 'workflow',
  nodes: [
    { id: 'start', type: 'start' },
    { id: 'facts', type: 'llm', model: { provider: 'demo' }, prompt: 'Facts about: {{start.query}}' },
    { id: 'stats', type: 'template', template: 'Question received: "{{start.query}}".' },
    {
      id: 'route',
      type: 'condition',
      branches: [{ id: 'question', conditions: [{ left: '{{start.query}}', operator: 'contains', right: '?' }] }],
    },
    { id: 'answer', type: 'llm', model: { provider: 'demo' }, prompt: '{{start.query}}', stream: true },
    { id: 'echo', type: 'template', template: 'That was not a question (no "?"). {{stats.output}}' },
    {
      id: 'end',
      type: 'end',
      template:
        '{{echo.output}}\n\n[demo-workflow: "facts" and "stats" ran in parallel; the condition took "{{route.branch}}".]',
    },
  ],
  edges: [
    { source: 'start', target: 'facts' },
    { source: 'start', target: 'stats' },
    { source: 'facts', target: 'route' },
    { source: 'stats', target: 'route' },
    { source: 'route', target: 'answer', sourceHandle: 'question' },
    { source: 'route', target: 'echo', sourceHandle: 'else' },
    { source: 'answer', target: 'end' },
    { source: 'echo', target: 'end' },
  ],
};

/** An agent with one http tool served by this server (`POST /tools/calculator`). */
export const DEMO_AGENT: BotDefinitionInput = {
  kind: 'agent',
  model: { provider: 'demo' },
  systemPrompt: 'You are the astron-chat demo agent. Use the calculator for arithmetic.',
  tools: [
    {
      type: 'http',
      name: 'calculator',
      description: 'Evaluates an arithmetic expression with + - * / and parentheses.',
      parameters: {
        type: 'object',
        properties: { expression: { type: 'string', description: 'e.g. 12*(3+4)' } },
        required: ['expression'],
      },
      method: 'POST',
      url: '/tools/calculator',
    },
  ],
  max_loop_count: 3,
};

/**
 * Makes sure the demo app, its credentials and bots exist; safe to run on every start, also by
 * several processes at once: every row is insert-or-ignore with a fixed id, so no seeder fails and
 * none writes a row twice.
 */
export async function seedDemo(options: { apps: AppRepository; bots: BotRepository; withUpstreamBot: boolean }) {
  const { apps, bots } = options;
  await apps.ensureApp({
    id: DEMO_APP_ID,
    name: 'Demo app',
    key: { id: 'key_demo', name: 'demo key', key: DEMO_API_KEY },
    secret: { id: 'sec_demo', secret: DEMO_SECRET },
  });
  const ensureBot = (botId: string, name: string, definition: BotDefinition | BotDefinitionInput) =>
    bots.ensureBot({ appId: DEMO_APP_ID, botId, name, definition });
  await ensureBot(DEMO_BOT_ID, 'Demo bot (built-in demo model)', {
    kind: 'chat',
    model: { provider: 'demo' },
    systemPrompt: 'You are the astron-chat demo bot.',
  });
  await ensureBot(DEMO_WORKFLOW_ID, 'Demo workflow (parallel branches, condition, streaming end)', DEMO_WORKFLOW);
  await ensureBot(DEMO_AGENT_ID, 'Demo agent (calculator tool on this server)', DEMO_AGENT);
  if (options.withUpstreamBot) {
    await ensureBot(UPSTREAM_BOT_ID, 'Upstream bot (OPENAI_BASE_URL)', {
      kind: 'chat',
      model: { provider: 'upstream' },
    });
  }
}
