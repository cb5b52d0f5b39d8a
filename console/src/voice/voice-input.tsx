import { useRef, useState } from 'react';

type Recognition = {
  lang: string;
  interimResults: boolean;
  continuous: boolean;
  onresult: ((event: { results: ArrayLike<ArrayLike<{ transcript: string }>> }) => void) | null;
  onend: (() => void) | null;
  onerror: (() => void) | null;
  start(): void;
  stop(): void;
};
type RecognitionConstructor = new () => Recognition;

function recognitionConstructor(): RecognitionConstructor | undefined {
  const scope = window as unknown as {
    SpeechRecognition?: RecognitionConstructor;
    webkitSpeechRecognition?: RecognitionConstructor;
  };
  return scope.SpeechRecognition ?? scope.webkitSpeechRecognition;
}

/** The microphone button: the browser's speech recognition fills the input. Absent where the browser has none. */
export function VoiceInput(props: { onText: (text: string) => void; disabled: boolean }) {
  const [listening, setListening] = useState(false);
  const recognition = useRef<Recognition | undefined>(undefined);
  const Recognition = recognitionConstructor();
  if (!Recognition) return null;

  const toggle = () => {
    if (listening) {
      recognition.current?.stop();
      return;
    }
    const instance = new Recognition();
    instance.lang = navigator.language || 'en-US';
    instance.interimResults = true;
    instance.continuous = false;
    instance.onresult = (event) => {
      let text = '';
      for (let index = 0; index < event.results.length; index += 1) text += event.results[index]?.[0]?.transcript ?? '';
      props.onText(text);
    };
    instance.onend = () => setListening(false);
    instance.onerror = () => setListening(false);
    recognition.current = instance;
    setListening(true);
    instance.start();
  };

  return (
    <button
      type="button"
      data-testid="voice-input"
      className={listening ? 'icon active' : 'icon'}
      onClick={toggle}
      disabled={props.disabled}
      title={listening ? 'Stop listening' : 'Speak your message'}
      aria-pressed={listening}
    >
      {listening ? '● Listening' : 'Speak'}
    </button>
  );
}
