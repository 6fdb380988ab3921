import Synchronization
import CalfControl

/// Hands a value to another thread where the type system cannot see that
/// only one thread uses it at a time (the revival closures: built on the
/// starting thread, then run only by their scheduler's thread; a state
/// copied on its process's thread for a caller).
package struct UncheckedBox<T>: @unchecked Sendable {
    package let value: T
    package init(_ value: T) { self.value = value }
}

/// A value shared between threads under a lock.
package final class Locked<Value>: @unchecked Sendable {
    // invariant: `value` is only touched inside `mutex`.
    private let mutex = Mutex<Void>(())
    private var value: Value
    package init(_ value: Value) { self.value = value }
    package func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try mutex.withLock { _ in try body(&value) }
    }
}
