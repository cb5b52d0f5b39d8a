import type { ChatClient } from '@astron-chat/client';
import { useChatCompletion, type ChatCompletionState, type ToolCallView } from '@astron-chat/client/react';
import { useCallback, useEffect, useRef, useState } from 'react';
import { errorMessage } from '../api.ts';
import { liveRun, rememberLiveRun } from '../session.ts';
import { createReadAloud, speechSynthesisAvailable } from '../voice/read-aloud.ts';
import { VoiceInput } from '../voice/voice-input.tsx';
import { AssistantMessage } from './answer.tsx';

type Turn =
  | { role: 'user'; id: string; content: string }
  | {
      role: 'assistant';
      id: string;
      content: string;
      reasoning: string;
      toolCalls: ToolCallView[];
      status: 'complete' | 'partial';
      runId: string;
      live?: ChatCompletionState;
    };

type Conversation = { chatId: string; botId: string; title: string; updated: number };

const newChatId = () => `chat_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const isLive = (status: ChatCompletionState['status']) => status === 'streaming' || status === 'reconnecting';

/** Speaks the answer as it streams when "Read aloud" is on; shared by the chat and the follower page. */
export function useReadAloud() {
  const [enabled, setEnabled] = useState(false);
  const speaker = useRef(createReadAloud());
  const enabledRef = useRef(enabled);
  enabledRef.current = enabled;
  const onEvent = useCallback((event: { type: string; text?: string; finishReason?: string }) => {
    if (!enabledRef.current) return;
    if (event.type === 'text-delta' && event.text) speaker.current.push(event.text);
    if (event.type === 'finish') {
      if (event.finishReason === 'cancelled') speaker.current.stop();
      else speaker.current.finish();
    }
    if (event.type === 'error') speaker.current.finish();
  }, []);
  const toggle = () => {
    if (enabled) speaker.current.stop();
    setEnabled(!enabled);
  };
  const silence = () => speaker.current.stop();
  const button = speechSynthesisAvailable() ? (
    <label className="toggle" title="Speak the answer sentence by sentence as it streams">
      <input type="checkbox" data-testid="read-aloud" checked={enabled} onChange={toggle} /> Read aloud
    </label>
  ) : null;
  return { onEvent, button, silence };
}

export function ChatPage(props: { client: ChatClient; uid: string }) {
  const { client, uid } = props;
  const [bots, setBots] = useState<Array<{ botId: string; name: string }>>([]);
  const [botId, setBotId] = useState('');
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [olderConversations, setOlderConversations] = useState<string | undefined>(undefined);
  const [chatId, setChatId] = useState(newChatId);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [input, setInput] = useState('');
  const [question, setQuestion] = useState<string | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const readAloud = useReadAloud();
  const chatIdRef = useRef(chatId);
  chatIdRef.current = chatId;
  const questionRef = useRef(question);
  questionRef.current = question;
  // The live turn's keys are kept when it joins `turns`, so React keeps its DOM (no second render of a long answer).
  const liveKey = useRef(`live-${Date.now()}`);

  const completion = useChatCompletion(client, {
    onEvent: readAloud.onEvent,
    onRunId: (runId) => rememberLiveRun({ runId, chatId: chatIdRef.current, question: questionRef.current ?? '' }),
  });
  const { state } = completion;

  const refreshConversations = useCallback(() => {
    client.trpc.chat.conversations
      .query({ uid, limit: 50 })
      .then((page) => {
        setConversations(page.chats);
        setOlderConversations(page.nextBefore);
      })
      .catch((error: unknown) => setProblem(errorMessage(error)));
  }, [client, uid]);

  useEffect(() => {
    client.trpc.chat.bots
      .query()
      .then((result) => {
        setBots(result.bots);
        setBotId(
          (current) =>
            current || result.bots.find((bot) => bot.botId === 'demo-bot')?.botId || result.bots[0]?.botId || '',
        );
      })
      .catch((error: unknown) => setProblem(errorMessage(error)));
    refreshConversations();
  }, [client, refreshConversations]);

  const loadOlderConversations = () => {
    if (!olderConversations) return;
    client.trpc.chat.conversations
      .query({ uid, limit: 50, before: olderConversations })
      .then((page) => {
        setConversations((current) => [...current, ...page.chats]);
        setOlderConversations(page.nextBefore);
      })
      .catch((error: unknown) => setProblem(errorMessage(error)));
  };

  const loadConversation = useCallback(
    async (id: string) => {
      const page = await client.trpc.chat.history.query({ chatId: id, limit: 200 });
      setTurns(
        page.messages.map((message): Turn =>
          message.role === 'user'
            ? { role: 'user', id: message.id, content: message.content }
            : {
                role: 'assistant',
                id: message.id,
                content: message.content,
                reasoning: message.reasoningContent ?? '',
                toolCalls: (message.toolCalls ?? []).map(toToolCallView),
                status: message.status,
                runId: message.runId,
              },
        ),
      );
    },
    [client],
  );

  // A reload while an answer streamed: show that chat and pick the run up again from its first event.
  useEffect(() => {
    const pending = liveRun();
    if (!pending) return;
    chatIdRef.current = pending.chatId;
    questionRef.current = pending.question;
    setChatId(pending.chatId);
    setQuestion(pending.question);
    loadConversation(pending.chatId).catch(() => setTurns([]));
    completion.follow(pending.runId);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- once, on mount
  }, []);

  // A finished answer joins the conversation as a turn; the live view is reset.
  useEffect(() => {
    if (state.status === 'idle' || isLive(state.status)) return;
    const asked = questionRef.current;
    const finished = state;
    const key = liveKey.current;
    setTurns((current) => [
      ...current,
      ...(asked === undefined ? [] : [{ role: 'user' as const, id: `${key}-user`, content: asked }]),
      {
        role: 'assistant',
        id: `${key}-answer`,
        content: finished.text,
        reasoning: finished.reasoning,
        toolCalls: finished.toolCalls,
        status: finished.status === 'succeeded' ? 'complete' : 'partial',
        runId: finished.runId ?? '',
        live: finished,
      },
    ]);
    setQuestion(undefined);
    liveKey.current = `live-${Date.now()}`;
    rememberLiveRun(undefined);
    completion.reset();
    refreshConversations();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- reacts to the end of a run only
  }, [state.status]);

  const send = () => {
    const text = input.trim();
    if (!text || !botId || isLive(state.status)) return;
    setProblem(undefined);
    setQuestion(text);
    questionRef.current = text;
    setInput('');
    completion.start({
      bot_id: botId,
      uid,
      chat_id: chatId,
      parameters: { messages: [{ role: 'user', content: text }] },
    });
  };

  const stop = () => {
    readAloud.silence();
    completion.stop();
  };

  const selectConversation = (conversation: Conversation) => {
    if (isLive(state.status)) return;
    setChatId(conversation.chatId);
    setBotId(conversation.botId);
    loadConversation(conversation.chatId).catch((error: unknown) => setProblem(errorMessage(error)));
  };

  const newChat = () => {
    if (isLive(state.status)) return;
    setChatId(newChatId());
    setTurns([]);
  };

  const streaming = isLive(state.status) || (question !== undefined && state.status === 'idle');

  return (
    <div className="chat-layout">
      <aside className="sidebar">
        <button type="button" data-testid="new-chat" onClick={newChat} disabled={streaming}>
          + New chat
        </button>
        <ul className="conversations" data-testid="conversations">
          {conversations.map((conversation) => (
            <li key={conversation.chatId}>
              <button
                type="button"
                className={conversation.chatId === chatId ? 'conversation selected' : 'conversation'}
                onClick={() => selectConversation(conversation)}
                disabled={streaming}
                title={conversation.chatId}
              >
                <span className="conversation-title">{conversation.title || conversation.chatId}</span>
                <span className="muted small">
                  {conversation.botId} · {new Date(conversation.updated * 1000).toLocaleString()}
                </span>
              </button>
            </li>
          ))}
          {conversations.length === 0 && <li className="muted small">No conversations yet.</li>}
          {olderConversations && (
            <li>
              <button type="button" className="link small" onClick={loadOlderConversations}>
                Older conversations
              </button>
            </li>
          )}
        </ul>
      </aside>
      <section className="chat-main">
        <div className="chat-toolbar">
          <label>
            Bot{' '}
            <select
              data-testid="bot-select"
              value={botId}
              onChange={(event) => setBotId(event.target.value)}
              disabled={streaming || turns.length > 0}
            >
              {bots.map((bot) => (
                <option key={bot.botId} value={bot.botId}>
                  {bot.botId === bot.name ? bot.botId : `${bot.name} (${bot.botId})`}
                </option>
              ))}
            </select>
          </label>
          <span className="muted small">chat {chatId}</span>
          {readAloud.button}
        </div>
        <div className="messages">
          {[
            ...turns.map((turn) =>
              turn.role === 'user' ? (
                <div key={turn.id} className="message user" data-testid="message-user">
                  {turn.content}
                </div>
              ) : (
                <AssistantMessage
                  key={turn.id}
                  text={turn.content}
                  reasoning={turn.reasoning}
                  toolCalls={turn.toolCalls}
                  steps={turn.live?.steps}
                  status={turn.live?.status ?? turn.status}
                  runId={turn.runId || undefined}
                  usage={turn.live?.usage}
                  timeToFirstTokenMs={turn.live?.timeToFirstTokenMs}
                  error={turn.live?.error}
                />
              ),
            ),
            question !== undefined && (
              <div key={`${liveKey.current}-user`} className="message user" data-testid="message-user">
                {question}
              </div>
            ),
            state.status !== 'idle' && (
              <AssistantMessage
                key={`${liveKey.current}-answer`}
                text={state.text}
                reasoning={state.reasoning}
                toolCalls={state.toolCalls}
                steps={state.steps}
                status={state.status}
                runId={state.runId}
                usage={state.usage}
                timeToFirstTokenMs={state.timeToFirstTokenMs}
                error={state.error}
                reconnecting={state.status === 'reconnecting'}
              />
            ),
          ]}
          {turns.length === 0 && state.status === 'idle' && question === undefined && (
            <div className="empty muted">Ask {botId || 'a bot'} something.</div>
          )}
        </div>
        {problem && <div className="error-text">{problem}</div>}
        <form
          className="composer"
          onSubmit={(event) => {
            event.preventDefault();
            send();
          }}
        >
          <textarea
            data-testid="chat-input"
            value={input}
            placeholder="Message (Enter to send, Shift+Enter for a new line)"
            onChange={(event) => setInput(event.target.value)}
            onKeyDown={(event) => {
              if (event.key === 'Enter' && !event.shiftKey) {
                event.preventDefault();
                send();
              }
            }}
            rows={2}
          />
          <VoiceInput onText={setInput} disabled={streaming} />
          {streaming ? (
            <button type="button" data-testid="chat-stop" className="danger" onClick={stop}>
              Stop
            </button>
          ) : (
            <button type="submit" data-testid="chat-send" disabled={!input.trim() || !botId}>
              Send
            </button>
          )}
        </form>
      </section>
    </div>
  );
}

function toToolCallView(value: unknown): ToolCallView {
  const call = value as { id?: string; kind?: string; name?: string; arguments?: string; result?: string };
  return {
    id: call.id ?? '',
    kind: call.kind ?? 'tool',
    name: call.name ?? '',
    arguments: call.arguments ?? '',
    result: call.result,
    reason: undefined,
    durationMs: undefined,
  };
}

/** `/follow/<run id>`: replays a run of this app and follows it live (any number of tabs at once). */
export function FollowPage(props: { client: ChatClient; runId: string }) {
  const readAloud = useReadAloud();
  const completion = useChatCompletion(props.client, { onEvent: readAloud.onEvent });
  const { follow } = completion;
  useEffect(() => follow(props.runId), [follow, props.runId]);
  const { state } = completion;
  return (
    <section className="chat-main follow">
      <div className="chat-toolbar">
        <strong>Following run {props.runId}</strong>
        {readAloud.button}
        {isLive(state.status) && (
          <button
            type="button"
            data-testid="chat-stop"
            className="danger"
            onClick={() => {
              readAloud.silence();
              completion.stop();
            }}
          >
            Stop
          </button>
        )}
      </div>
      <div className="messages">
        <AssistantMessage
          text={state.text}
          reasoning={state.reasoning}
          toolCalls={state.toolCalls}
          steps={state.steps}
          status={state.status}
          runId={undefined}
          usage={state.usage}
          timeToFirstTokenMs={state.timeToFirstTokenMs}
          error={state.error}
          reconnecting={state.status === 'reconnecting'}
        />
      </div>
    </section>
  );
}
