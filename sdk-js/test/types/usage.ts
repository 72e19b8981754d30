// Compiled (not run) by `make typecheck` against the published declarations
// (dist/types) through the package's own name: the documented usage must
// type-check under strict mode, and misuse must not.
import {
  ClientErrorCode,
  ConnectionState,
  Eddy,
  EddyError,
  ErrorCode,
  MergeStrategy,
  type Json,
  type List,
  type Record,
  type RpcResponse,
} from '@eddy/client';

export async function usage(marker: { move(p: Json | undefined): void }): Promise<number> {
  const client = new Eddy('ws://localhost:6020', {
    WebSocket: globalThis.WebSocket,
    reconnect: { min: 200, max: 5000 },
    offlineQueue: true,
    heartbeatMs: 10_000,
    mergeStrategy: MergeStrategy.LOCAL_WINS,
  });
  client.on('connectionStateChanged', (s: ConnectionState) => {
    if (s === ConnectionState.OPEN) return;
  });
  client.on('error', (e: EddyError) => e.code === ErrorCode.PermissionDenied || e.code === ClientErrorCode.ConnectionLost);
  const { user, clientData } = await client.login({ username: 'ann', password: 'secret' });
  void user.toUpperCase();
  void clientData;
  const renewing = new Eddy('ws://localhost:6020', { auth: async () => ({ token: await Promise.resolve('jwt') }) });
  await renewing.login();

  const driver: Record = client.record.getRecord('driver/14');
  await driver.whenReady();
  driver.set('position.x', 4244);
  driver.set({ position: { x: 1 } });
  driver.subscribe('position', (p) => marker.move(p), true);
  driver.subscribe((doc) => marker.move(doc));
  await driver.setWithAck('status', 'parked');
  driver.erase('status');
  const v: number = driver.version;
  client.record.setMergeStrategy(/^cart\//, (local, remote, lv, rv) => (lv > rv ? local : remote));
  client.record.setMergeStrategy('one', MergeStrategy.REMOTE_WINS);
  const exists: boolean = await client.record.has('driver/14');
  const head: number = await client.record.head('driver/14');
  const snap: Json = await client.record.snapshot('driver/14');
  const written: number = await client.record.setData('driver/14', 'x', 1);
  void [exists, head, snap, written];

  const list: List = client.record.getList('todos');
  list.addEntry('todo/1');
  list.on('entry-added', (entry: string, index: number) => void [entry, index]);
  const entries: string[] = list.getEntries();
  void entries;

  const anon = client.record.getAnonymousRecord();
  await anon.setName('item/7');

  await client.event.subscribe('news/sport', (d: Json, name: string) => void [d, name]);
  client.event.emit('news/sport', { score: [2, 1] });
  client.event.listen('prices/.*', (name, response) => {
    response.accept();
    response.onStop(() => void name);
  });

  await client.rpc.provide('add-two', (n: Json, res: RpcResponse) => res.send((n as number) + 2));
  const r: Json = await client.rpc.make('add-two', 5, { timeoutMs: 1000 });
  void r;

  client.presence.subscribe((u: string, online: boolean) => void [u, online]);
  const everyone: string[] = await client.presence.getAll();
  const some: { [user: string]: boolean } = await client.presence.getAll(['bob']);
  void [everyone, some];

  // @ts-expect-error an event callback gets JSON, not a number only
  client.event.subscribe('x', (d: number) => d);
  // @ts-expect-error unknown client events are refused
  client.on('no-such-event', () => {});
  client.close();
  return v;
}
