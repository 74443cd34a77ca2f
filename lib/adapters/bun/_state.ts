/**
 * The yes-or-no state of a `BunRawSocket`, packed into the bits of one number and read
 * and written only through the named accessors here. A socket per connection: one
 * number instead of a field per yes-or-no is 96 bytes less per connection. A base class,
 * not an object of its own, so that a socket stays one object; the number itself is
 * private to this class, and the bit layout is written down in this file only. Internal.
 *
 * Accessors come in two kinds: a getter and setter pair for what goes both ways
 * (`paused`, `corked`, ...), and a getter with a `mark...()` method for what, once
 * true, stays true (`closed`, `endWanted`, ...).
 *
 * @module
 */

const PAUSED = 1;
const CLOSED = 2;
const CORKED = 4;
const NEED_DRAIN = 8;
const HELD_END = 16;
const HELD_CLOSE = 32;
const END_DELIVERED = 64;
const END_WANTED = 128;
const WRITE_SHUT = 256;
const CLOSE_WANTED = 512;
const ABORTED = 1024;
const NO_DELAY = 2048;
const UPGRADING = 4096;
const BUN_READING = 8192;
const BUN_PAUSED = 16384;
const BUN_CLOSING = 32768;

/** The packed state of a Bun socket, with a named accessor for each bit. */
export abstract class BunSocketState {
  /** The bits above: one number rather than a field per yes-or-no. Sockets start paused. */
  #flags = PAUSED;

  /** Reading is paused: from the start until `resume()`, and after `pause()`. */
  protected get paused(): boolean {
    return (this.#flags & PAUSED) !== 0;
  }
  protected set paused(on: boolean) {
    this.#flags = on ? this.#flags | PAUSED : this.#flags & ~PAUSED;
  }

  /** Writes are held until `uncork()`. */
  protected get corked(): boolean {
    return (this.#flags & CORKED) !== 0;
  }
  protected set corked(on: boolean) {
    this.#flags = on ? this.#flags | CORKED : this.#flags & ~CORKED;
  }

  /** A `write()` returned false: the handler's `drain` is owed once the queue empties. */
  protected get needDrain(): boolean {
    return (this.#flags & NEED_DRAIN) !== 0;
  }
  protected set needDrain(on: boolean) {
    this.#flags = on ? this.#flags | NEED_DRAIN : this.#flags & ~NEED_DRAIN;
  }

  /** The peer's end arrived while paused: it is held behind the data. */
  protected get heldEnd(): boolean {
    return (this.#flags & HELD_END) !== 0;
  }
  protected set heldEnd(on: boolean) {
    this.#flags = on ? this.#flags | HELD_END : this.#flags & ~HELD_END;
  }

  /** TCP_NODELAY is on. */
  protected get noDelay(): boolean {
    return (this.#flags & NO_DELAY) !== 0;
  }
  protected set noDelay(on: boolean) {
    this.#flags = on ? this.#flags | NO_DELAY : this.#flags & ~NO_DELAY;
  }

  /** Mid-STARTTLS: the socket is silent, but `abort()` still reaches Bun's socket. */
  protected get upgrading(): boolean {
    return (this.#flags & UPGRADING) !== 0;
  }
  protected set upgrading(on: boolean) {
    this.#flags = on ? this.#flags | UPGRADING : this.#flags & ~UPGRADING;
  }

  /**
   * Bun's own pause, a system call each way, is made only once a chunk arrives while
   * paused (that chunk is held): most pauses (admission, flow control) end before that.
   * `bunReading` and `bunPaused` say which Bun's socket is known to be; neither, that it
   * is not known (the TLS handshake pauses the socket itself). A resume of a socket that
   * reads costs nothing.
   */
  protected get bunReading(): boolean {
    return (this.#flags & BUN_READING) !== 0;
  }
  /** Records that Bun's socket now reads (true) or is paused (false). */
  protected set bunReading(on: boolean) {
    this.#flags = (this.#flags & ~(BUN_READING | BUN_PAUSED)) | (on ? BUN_READING : BUN_PAUSED);
  }
  protected get bunPaused(): boolean {
    return (this.#flags & BUN_PAUSED) !== 0;
  }

  /** Closed: reported (or about to be), or handed over to TLS. Nothing more happens. */
  protected get closed(): boolean {
    return (this.#flags & CLOSED) !== 0;
  }
  protected markClosed(): void {
    this.#flags |= CLOSED;
  }

  /** `write()` still takes bytes: neither closed nor ended nor closing. */
  protected get outputOpen(): boolean {
    return (this.#flags & (CLOSED | END_WANTED | CLOSE_WANTED)) === 0;
  }

  /** Bun's close arrived while events were held: it is delivered after them. */
  protected get heldClose(): boolean {
    return (this.#flags & HELD_CLOSE) !== 0;
  }
  protected markHeldClose(): void {
    this.#flags |= HELD_CLOSE;
  }

  /** The handler's `end` has run (it runs once). */
  protected get endDelivered(): boolean {
    return (this.#flags & END_DELIVERED) !== 0;
  }
  protected markEndDelivered(): void {
    this.#flags |= END_DELIVERED;
  }

  /** `end()` was called: the write side shuts once the queue is sent. */
  protected get endWanted(): boolean {
    return (this.#flags & END_WANTED) !== 0;
  }
  protected markEndWanted(): void {
    this.#flags |= END_WANTED;
  }

  /** The write side is shut (`shutdown()` was called on Bun's socket). */
  protected get writeShut(): boolean {
    return (this.#flags & WRITE_SHUT) !== 0;
  }
  protected markWriteShut(): void {
    this.#flags |= WRITE_SHUT;
  }

  /** `close()` was called: the socket closes once the queue is sent. */
  protected get closeWanted(): boolean {
    return (this.#flags & CLOSE_WANTED) !== 0;
  }
  protected markCloseWanted(): void {
    this.#flags |= CLOSE_WANTED;
  }

  /** `abort()` was called: the close reports no error. */
  protected get aborted(): boolean {
    return (this.#flags & ABORTED) !== 0;
  }
  protected markAborted(): void {
    this.#flags |= ABORTED;
  }

  /** Bun's `end()` or `close()` was called: Bun has let go (`terminate()` no longer reaches it). */
  protected get bunClosing(): boolean {
    return (this.#flags & BUN_CLOSING) !== 0;
  }
  protected markBunClosing(): void {
    this.#flags |= BUN_CLOSING;
  }
}
