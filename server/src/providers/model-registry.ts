import { AppError } from '../errors/app-error.ts';
import { createDemoModel } from './builtin/demo-model.ts';
import type { ChatModel } from './chat-model.ts';
import {
  createOpenAICompatibleModel,
  type OpenAICompatibleOptions,
} from './openai-compatible/openai-compatible-model.ts';

export type ProviderSettings =
  | { type: 'demo'; delayMs: number }
  | ({ type: 'openai-compatible' } & Omit<OpenAICompatibleOptions, 'model'> & { defaultModel: string });

/** Provider ids (as bots name them) to models; one model object per provider and model name. */
export function createModelRegistry(providers: Record<string, ProviderSettings>) {
  const models = new Map<string, ChatModel>();
  return {
    providerIds: () => Object.keys(providers),
    resolve(reference: { provider: string; name?: string | undefined }): ChatModel {
      const settings = providers[reference.provider];
      if (!settings) {
        throw new AppError(
          'WORKFLOW_ERROR',
          `The bot uses model provider "${reference.provider}", which this server has not configured.`,
        );
      }
      const key = `${reference.provider}\u0000${reference.name ?? ''}`;
      let model = models.get(key);
      if (!model) {
        model =
          settings.type === 'demo'
            ? createDemoModel({ delayMs: settings.delayMs })
            : createOpenAICompatibleModel({ ...settings, model: reference.name ?? settings.defaultModel });
        models.set(key, model);
      }
      return model;
    },
  };
}
export type ModelRegistry = ReturnType<typeof createModelRegistry>;
