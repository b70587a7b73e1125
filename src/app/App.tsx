/**
 * The page: a header with the tab bar "Explorer | Chat lab | Extraction" and the open tab. Each
 * feature lives in its own folder with its own store (explorer/, chat/, extract/). A tab is
 * mounted the first time it is opened and then only hidden, so a model loaded in the chat lab
 * stays loaded while the person looks at the map. The tab is kept in the URL's hash (`#tab=chat`)
 * beside the explorer's share-link keys.
 */
import { lazy, Suspense, useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { hashWithTab, tabFromHash, TABS, type Tab } from '../core/view/tabs';
import { AboutText } from './explorer/components/About';
import { Explorer, ExplorerSummary } from './explorer/Explorer';

const ChatLab = lazy(() => import('./chat/ChatLab').then((m) => ({ default: m.ChatLab })));
const ExtractLab = lazy(() => import('./extract/ExtractLab').then((m) => ({ default: m.ExtractLab })));

const TAB_LABEL: Record<Tab, string> = { explorer: 'Explorer', chat: 'Chat lab', extract: 'Extraction' };

function currentTab(): Tab {
  return typeof location === 'undefined' ? 'explorer' : tabFromHash(location.hash);
}

export function App() {
  const [tab, setTab] = useState<Tab>(currentTab);
  const [opened, setOpened] = useState<ReadonlySet<Tab>>(() => new Set([currentTab()]));
  const [showAbout, setShowAbout] = useState(false);
  const tabRefs = useRef(new Map<Tab, HTMLButtonElement>());

  const open = (t: Tab, focus = false) => {
    setTab(t);
    setOpened((s) => (s.has(t) ? s : new Set([...s, t])));
    // replaceState fires no hashchange: the explorer's share link is not applied again.
    const next = hashWithTab(location.hash, t);
    if (next !== location.hash && !(next === '' && location.hash === '#')) history.replaceState(null, '', `${location.pathname}${location.search}${next}`);
    if (focus) tabRefs.current.get(t)?.focus();
  };

  // A link pasted into the address bar may name another tab.
  useEffect(() => {
    const onHash = () => {
      const t = tabFromHash(location.hash);
      setTab(t);
      setOpened((s) => (s.has(t) ? s : new Set([...s, t])));
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  // Arrow keys, Home and End move between tabs (WAI-ARIA tabs pattern, automatic activation).
  const onTabKey = (e: KeyboardEvent<HTMLButtonElement>) => {
    const i = TABS.indexOf(tab);
    const next = e.key === 'ArrowRight' ? TABS[(i + 1) % TABS.length]
      : e.key === 'ArrowLeft' ? TABS[(i + TABS.length - 1) % TABS.length]
      : e.key === 'Home' ? TABS[0] : e.key === 'End' ? TABS[TABS.length - 1] : null;
    if (!next) return;
    e.preventDefault();
    open(next, true);
  };

  return (
    <div className="app">
      <header className="topbar">
        <h1>persona-space</h1>
        <nav className="tabs" role="tablist" aria-label="Parts of the app">
          {TABS.map((t) => (
            <button key={t} type="button" role="tab" id={`tab-${t}`} data-testid={`tab-${t}`} aria-selected={tab === t} aria-controls={`tabpanel-${t}`}
              tabIndex={tab === t ? 0 : -1} className={tab === t ? 'tab current' : 'tab'}
              ref={(el) => { if (el) tabRefs.current.set(t, el); else tabRefs.current.delete(t); }}
              onClick={() => open(t)} onKeyDown={onTabKey}>
              {TAB_LABEL[t]}
            </button>
          ))}
        </nav>
        <ExplorerSummary />
        <button type="button" className="small about-button" aria-expanded={showAbout} onClick={() => setShowAbout(!showAbout)}>About</button>
      </header>
      {showAbout && <div className="about-pop panel"><AboutText /></div>}
      {TABS.map((t) => (
        <div key={t} role="tabpanel" id={`tabpanel-${t}`} aria-labelledby={`tab-${t}`} hidden={tab !== t} className="tabpanel">
          {opened.has(t) && (
            t === 'explorer' ? <Explorer active={tab === 'explorer'} />
              : <Suspense fallback={<p className="muted lab-loading">Loading {TAB_LABEL[t]}…</p>}>{t === 'chat' ? <ChatLab /> : <ExtractLab />}</Suspense>
          )}
        </div>
      ))}
    </div>
  );
}
