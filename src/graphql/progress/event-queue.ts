/**
 * An async iterator fed from outside (push), as a subscription needs. Unlike an async generator, its
 * return() takes effect at once even while the consumer waits for the next value, so a subscriber
 * that leaves is cleaned up immediately rather than at the next event.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly values: T[] = []
  private waiting?: (result: IteratorResult<T>) => void
  private ended = false
  private readonly cleanups: (() => void)[] = []

  /** Runs once when the queue ends, whoever ends it. */
  onEnd(cleanup: () => void): void {
    if (this.ended) cleanup()
    else this.cleanups.push(cleanup)
  }

  push(value: T): void {
    if (this.ended) return
    if (this.waiting) {
      const resolve = this.waiting
      this.waiting = undefined
      resolve({ value, done: false })
    } else {
      this.values.push(value)
    }
  }

  /** No more values: the consumer gets what is queued, then done. */
  end(): void {
    if (this.ended) return
    this.ended = true
    for (const cleanup of this.cleanups.splice(0)) cleanup()
    if (this.waiting && this.values.length === 0) {
      const resolve = this.waiting
      this.waiting = undefined
      resolve({ value: undefined, done: true })
    }
  }

  next(): Promise<IteratorResult<T>> {
    const value = this.values.shift()
    if (value !== undefined) return Promise.resolve({ value, done: false })
    if (this.ended) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve) => {
      this.waiting = resolve
    })
  }

  return(): Promise<IteratorResult<T>> {
    this.values.length = 0
    this.end()
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
