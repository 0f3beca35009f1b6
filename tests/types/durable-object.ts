// A Durable Object hosting the engine, typed as with @cloudflare/workers-types
// (whose SyncKvStorage and DurableObjectStorage these declarations copy in
// part, so that the test needs no package): ctx.storage fits StorageOption.
import { UserTrail, init, type DurableObjectStorageLike, type StorageOption } from 'usertrail';
import wasm from 'usertrail/usertrail_bg.wasm';

interface SyncKvListOptions {
  start?: string;
  startAfter?: string;
  end?: string;
  prefix?: string;
  reverse?: boolean;
  limit?: number;
}
interface SyncKvStorage {
  get<T = unknown>(key: string): T | undefined;
  list<T = unknown>(options?: SyncKvListOptions): Iterable<[string, T]>;
  put<T>(key: string, value: T): void;
  delete(key: string): boolean;
}
interface DurableObjectStorage {
  kv: SyncKvStorage;
  transactionSync<T>(closure: () => T): T;
  sync(): Promise<void>;
  deleteAll(): Promise<void>;
  getAlarm(): Promise<number | null>;
}
interface DurableObjectState {
  readonly storage: DurableObjectStorage;
  blockConcurrencyWhile<T>(callback: () => Promise<T>): Promise<T>;
}

export class Site {
  trail!: UserTrail;
  constructor(ctx: DurableObjectState) {
    void ctx.blockConcurrencyWhile(async () => {
      await init(wasm);
      this.trail = await UserTrail.open({ storage: { durableObject: ctx.storage } });
      const other = await UserTrail.open({ storage: { durableObject: ctx.storage, name: 'archive' } });
      await other.close();
    });
    const asOption: StorageOption = { durableObject: ctx.storage };
    const like: DurableObjectStorageLike = ctx.storage;
    void asOption;
    void like;
    // @ts-expect-error: the storage, not its name
    void UserTrail.open({ storage: { durableObject: 'SITES' } });
    // @ts-expect-error: a name is a string
    void UserTrail.open({ storage: { durableObject: ctx.storage, name: 7 } });
    // @ts-expect-error: a key-value store without transactionSync is not a Durable Object's
    void UserTrail.open({ storage: { durableObject: { kv: ctx.storage.kv } } });
  }
}
