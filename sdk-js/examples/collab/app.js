// The collaborative demo: a shared todo list (a record list of todo records)
// and a chat (events), with who is online (presence). Open it in two
// windows and edit in either.
//
// Query parameters: ?server=ws://host:6020 (default: this host, port 6020)
// and ?user=name (default: a random guest name).
import { ConnectionState, Eddy } from '../../dist/eddy.js';

const params = new URLSearchParams(location.search);
const serverUrl = params.get('server') ?? `ws://${location.hostname || '127.0.0.1'}:6020`;
const user = params.get('user') ?? `guest-${Math.random().toString(36).slice(2, 7)}`;
const $ = (id) => document.getElementById(id);

const client = new Eddy(serverUrl);
$('user').textContent = user;
client.on('connectionStateChanged', (s) => {
  $('state').textContent = s.toLowerCase().replace(/_/g, ' ');
  $('state').classList.toggle('open', s === ConnectionState.OPEN);
  document.body.dataset.state = s;
});
client.on('error', (e) => console.warn('eddy:', e.name, e.message));
await client.login({ username: user });

// ---- todos: the list "demo/todos" holds the names of "demo/todo/<id>" ----

const todos = client.record.getList('demo/todos');
const rows = new Map(); // record name -> { record, li }

function todoRow(name) {
  const record = client.record.getRecord(name);
  const li = document.createElement('li');
  li.dataset.name = name;
  const box = document.createElement('input');
  box.type = 'checkbox';
  const title = document.createElement('span');
  title.className = 'title';
  const remove = document.createElement('button');
  remove.className = 'remove';
  remove.textContent = '✕';
  li.append(box, title, remove);
  record.subscribe('title', (t) => (title.textContent = t ?? ''), true);
  record.subscribe(
    'done',
    (d) => {
      box.checked = d === true;
      li.classList.toggle('done', d === true);
    },
    true,
  );
  box.addEventListener('change', () => record.set('done', box.checked));
  remove.addEventListener('click', () => {
    todos.removeEntry(name);
    record.delete().catch((e) => console.warn(e));
  });
  return { record, li };
}

function render(entries) {
  const list = $('todos');
  for (const [name, row] of rows) {
    if (!entries.includes(name)) {
      row.li.remove();
      if (!row.record.isDestroyed) row.record.discard();
      rows.delete(name);
    }
  }
  for (const name of entries) {
    let row = rows.get(name);
    if (!row) rows.set(name, (row = todoRow(name)));
    list.append(row.li); // appending in order also reorders
  }
}

todos.subscribe(render, true);

$('todo-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('todo-input');
  const name = `demo/todo/${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const record = client.record.getRecord(name);
  record.set({ title: input.value, done: false, by: user });
  record.discard();
  todos.addEntry(name);
  input.value = '';
});

// ---- chat: events on "demo/chat" ----

function addMessage({ user: who, text }) {
  const li = document.createElement('li');
  const name = document.createElement('span');
  name.className = 'who';
  name.textContent = who;
  li.append(name, document.createTextNode(text));
  $('messages').append(li);
  li.scrollIntoView({ block: 'nearest' });
}

client.event.subscribe('demo/chat', addMessage);
$('chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('chat-input');
  client.event.emit('demo/chat', { user, text: input.value, at: Date.now() });
  input.value = '';
});

// ---- who is online ----

const online = new Set();
function renderOnline() {
  $('online').replaceChildren(
    ...[user, ...[...online].sort()].map((u) => {
      const li = document.createElement('li');
      li.textContent = u === user ? `${u} (you)` : u;
      return li;
    }),
  );
}
client.presence.subscribe((who, isOnline) => {
  if (isOnline) online.add(who);
  else online.delete(who);
  renderOnline();
});
for (const who of await client.presence.getAll()) online.add(who);
renderOnline();
document.body.dataset.ready = 'true';
