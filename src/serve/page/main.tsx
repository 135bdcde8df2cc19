/**
 * The taskvisor console: the run list beside (or, on a narrow screen, above) the selected
 * run. Changes arrive as Server-Sent Events; a page reloads only what an event touched.
 */
import './style.css';
import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { eventStream, get, post, type RunDetail, type RunRow, runPath, type Trace } from './api.js';
import { RunList } from './run-list.js';
import { RunPage } from './run-page.js';

function selectedFromHash(): string | undefined {
  const match = /^#\/runs\/(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]!) : undefined;
}

function App() {
  const [rows, setRows] = useState<RunRow[]>([]);
  const [phase, setPhase] = useState('');
  const [query, setQuery] = useState('');
  const [selected, setSelected] = useState<string | undefined>(selectedFromHash());
  const [detail, setDetail] = useState<RunDetail | undefined>(undefined);
  const [trace, setTrace] = useState<Trace | undefined>(undefined);
  const [connection, setConnection] = useState<'connecting' | 'live' | 'reconnecting'>('connecting');
  const [notice, setNotice] = useState<{ text: string; kind: 'ok' | 'pending' | 'error' } | undefined>(
    undefined,
  );
  const filters = useRef({ phase, query, selected });
  filters.current = { phase, query, selected };

  const loadRows = useCallback(async () => {
    const { phase: wanted, query: words } = filters.current;
    const params = new URLSearchParams();
    if (wanted) params.set('phase', wanted);
    if (words.trim()) params.set('q', words.trim());
    try {
      setRows(await get<RunRow[]>(`/api/runs?${params.toString()}`));
    } catch (error) {
      setNotice({ text: (error as Error).message, kind: 'error' });
    }
  }, []);

  const loadRun = useCallback(async () => {
    const runId = filters.current.selected;
    if (!runId) return;
    try {
      const [next, nextTrace] = await Promise.all([
        get<RunDetail>(runPath(runId)),
        get<Trace>(`${runPath(runId)}/trace`),
      ]);
      if (filters.current.selected !== runId) return;
      setDetail(next);
      setTrace(nextTrace);
    } catch (error) {
      setNotice({ text: (error as Error).message, kind: 'error' });
    }
  }, []);

  useEffect(() => void loadRows(), [phase, query, loadRows]);
  useEffect(() => {
    setDetail(undefined);
    setTrace(undefined);
    void loadRun();
  }, [selected, loadRun]);
  useEffect(() => {
    const onHash = () => setSelected(selectedFromHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  // Live: every committed event (and every change of driver) reloads what it touched, at most every 150 ms.
  useEffect(() => {
    const stream = eventStream();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let runTouched = false;
    const schedule = (runId: string) => {
      if (runId === filters.current.selected) runTouched = true;
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        void loadRows();
        if (runTouched) void loadRun();
        runTouched = false;
      }, 150);
    };
    const onChange = (message: MessageEvent<string>) =>
      schedule((JSON.parse(message.data) as { runId: string }).runId);
    stream.addEventListener('run', onChange);
    stream.addEventListener('status', onChange);
    stream.onopen = () => setConnection('live');
    stream.onerror = () => setConnection('reconnecting');
    return () => {
      stream.close();
      if (timer) clearTimeout(timer);
    };
  }, [loadRows, loadRun]);

  const act = useCallback(
    async (path: string, body: Record<string, unknown> = {}) => {
      try {
        const result = await post(path, body);
        setNotice({ text: result.message, kind: result.pending ? 'pending' : 'ok' });
        void loadRun();
        void loadRows();
      } catch (error) {
        setNotice({ text: (error as Error).message, kind: 'error' });
      }
    },
    [loadRun, loadRows],
  );

  const select = (runId: string) => {
    location.hash = `#/runs/${encodeURIComponent(runId)}`;
    setSelected(runId);
  };
  const waiting = rows.filter((row) => row.status.waitingFor.length > 0).length;
  return (
    <div class="console">
      <header class="top">
        <strong>taskvisor</strong>
        <span class="muted">
          {rows.length} runs · {waiting} waiting for you
        </span>
        <span class={`connection c-${connection}`} data-testid="connection">
          {connection === 'live' ? 'live' : connection === 'connecting' ? 'connecting…' : 'reconnecting…'}
        </span>
      </header>
      {notice && (
        <div class={`notice n-${notice.kind}`} role="status">
          {notice.text}
          <button aria-label="dismiss" onClick={() => setNotice(undefined)}>
            ×
          </button>
        </div>
      )}
      <RunList
        rows={rows}
        phase={phase}
        query={query}
        selected={selected}
        onPhase={setPhase}
        onQuery={setQuery}
        onSelect={select}
      />
      <main class="detail">
        {detail ? (
          <RunPage key={detail.view.id} detail={detail} trace={trace} act={act} />
        ) : (
          <p class="muted">{selected ? 'Loading…' : 'Select a run.'}</p>
        )}
      </main>
    </div>
  );
}

const root = document.getElementById('app')!;
root.textContent = '';
render(<App />, root);
