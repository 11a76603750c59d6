// The demo page: one client sending to the local collector, buttons that
// capture, and a panel that reads the client's stats() and the collector's
// GET /stats every 250 ms.

import { load, Tidings } from '/js/index.js';

const $ = (id) => document.getElementById(id);
const { collector } = await (await fetch('/config.json')).json();
await load();
const tidings = new Tidings({ apiKey: 'phc_demo', host: collector });
window.tidings = tidings; // for the browser's console

// The switch outlives a reload (that is the point of trying one offline).
const offline = $('offline');
offline.checked = sessionStorage.getItem('tidings-demo-offline') === '1';
tidings.setOffline(offline.checked);
offline.addEventListener('change', () => {
  tidings.setOffline(offline.checked);
  sessionStorage.setItem('tidings-demo-offline', offline.checked ? '1' : '0');
  say(offline.checked ? 'Sending paused: events wait in the queue (and in IndexedDB).' : 'Sending again.');
});

function say(text, error = false) {
  $('message').textContent = text;
  $('message').className = error ? 'error' : '';
}

/** Runs a button's action; a refused event shows the SDK's own message. */
function act(button, action) {
  $(button).addEventListener('click', () => {
    try {
      say(action());
    } catch (e) {
      say(`${e.name}: ${e.message}`, true);
    }
  });
}

let people = 0;
act('capture', () => `Queued ${tidings.capture('demo click', { button: 'capture' })}.`);
act('burst', () => {
  for (let i = 0; i < 100; i++) tidings.capture('demo burst', { i });
  return 'Queued 100 events.';
});
act('identify', () => {
  const uuid = tidings.identify(`demo-user-${++people}`, { plan: 'demo' });
  return `Now demo-user-${people}: $identify ${uuid}.`;
});
act('pageview', () => `Queued $pageview ${tidings.capturePageview()}.`);

// Leaving right after capturing: pagehide sends what is queued, with
// keepalive, before the collector's page replaces this one.
const leave = $('leave');
leave.href = `${collector}/stats`;
$('collector').href = `${collector}/stats`;
leave.addEventListener('click', () => {
  for (let i = 0; i < 20; i++) tidings.capture('demo leave', { i });
});

let asking = false;
async function storedAtCollector() {
  if (asking) return;
  asking = true;
  try {
    const s = await (await fetch(`${collector}/stats`)).json();
    $('stored').textContent = s.duplicates > 0 ? `${s.unique} (${s.duplicates} received twice)` : String(s.unique);
  } catch {
    $('stored').textContent = 'collector not reachable';
  } finally {
    asking = false;
  }
}

function render() {
  const s = tidings.stats();
  for (const key of ['captured', 'queued', 'inFlight', 'retrying', 'delivered']) $(key).textContent = String(s[key]);
  const reasons = Object.entries(s.dropped).map(([reason, n]) => `${reason} ${n}`);
  $('dropped').textContent = reasons.length ? `${s.droppedTotal} (${reasons.join(', ')})` : String(s.droppedTotal);
  storedAtCollector();
}

render();
setInterval(render, 250);
$('controls').disabled = false;
tidings.ready.then(() => {
  const replayed = tidings.stats().captured;
  if (replayed > 0) say(`Replayed ${replayed} event(s) persisted by an earlier page.`);
});
