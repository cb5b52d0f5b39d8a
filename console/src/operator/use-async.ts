import { useCallback, useEffect, useState } from 'react';
import { errorMessage } from '../api.ts';

/** A read that reloads when its inputs change or `reload()` is called; errors become a message. */
export function useAsync<Value>(load: () => Promise<Value>, dependencies: unknown[]) {
  const [value, setValue] = useState<Value | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [generation, setGeneration] = useState(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller lists what `load` reads
  const stableLoad = useCallback(load, dependencies);
  useEffect(() => {
    let current = true;
    stableLoad().then(
      (result) => {
        if (current) {
          setValue(result);
          setError(undefined);
        }
      },
      (failure: unknown) => {
        if (current) setError(errorMessage(failure));
      },
    );
    return () => {
      current = false;
    };
  }, [stableLoad, generation]);
  return { value, error, reload: () => setGeneration((count) => count + 1) };
}
