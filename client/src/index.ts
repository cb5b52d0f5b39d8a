export * from './exports.ts';
export { createChatClient } from './node-client.ts';
