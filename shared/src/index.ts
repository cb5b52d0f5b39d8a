export * from './errors.ts';
export * from './events.ts';
export * from './astron.ts';
export * from './openai.ts';
export * from './bot.ts';
export * from './bot-validation.ts';
