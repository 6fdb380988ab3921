import CalfControl

/// A growable FIFO ring buffer over raw memory, for mailboxes and run queues.
///
/// Not thread-safe: the scheduler thread that owns the containing object is
/// the only user. Copying the struct copies the pointer: exactly one owner
/// may call `destroy()`. Memory is allocated on first push, so an idle
/// process with an empty mailbox costs no buffer.
@usableFromInline
package struct Ring<Element> {
    @usableFromInline package var storage: UnsafeMutablePointer<Element>?
    @usableFromInline package var mask: Int = -1
    @usableFromInline package var head: Int = 0
    @usableFromInline package var count: Int = 0

    @inlinable package init() {}

    @inlinable package var isEmpty: Bool { count == 0 }

    @inlinable
    package mutating func append(_ element: __owned Element) {
        if count == mask &+ 1 { grow() }
        // invariant: grow() leaves storage allocated with room for one more.
        (storage.unsafelyUnwrapped + ((head &+ count) & mask)).initialize(to: consume element)
        count &+= 1
    }

    @inlinable
    package mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = (storage.unsafelyUnwrapped + head).move()
        head = (head &+ 1) & mask
        count &-= 1
        return element
    }

    /// Removes and returns the newest element.
    @inlinable
    package mutating func popLast() -> Element? {
        guard count > 0 else { return nil }
        count &-= 1
        return (storage.unsafelyUnwrapped + ((head &+ count) & mask)).move()
    }

    /// The element at `offset` from the front (0 is the next to pop).
    @inlinable
    package func peek(at offset: Int) -> Element {
        storage.unsafelyUnwrapped[(head &+ offset) & mask]
    }

    @usableFromInline
    package mutating func grow() {
        let oldCapacity = mask &+ 1
        let newCapacity = Swift.max(4, oldCapacity * 2)
        let fresh = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        if let old = storage {
            let firstRun = Swift.min(count, oldCapacity - head)
            (fresh).moveInitialize(from: old + head, count: firstRun)
            (fresh + firstRun).moveInitialize(from: old, count: count - firstRun)
            old.deallocate()
        }
        storage = fresh
        mask = newCapacity - 1
        head = 0
    }

    /// Removes the elements `shouldRemove` picks, keeping the others in order.
    package mutating func removeAll(where shouldRemove: (Element) -> Bool) {
        var kept = Ring()
        while let element = popFirst() {
            if !shouldRemove(element) { kept.append(element) }
        }
        destroy()
        self = kept
    }

    /// Deinitializes the elements left and frees the buffer. An empty ring
    /// frees it as raw memory: a mailbox is mostly empty when its process
    /// ends, and its cell's `deinit` runs unspecialized, where each generic
    /// element operation looks up type metadata.
    @inlinable @inline(__always)
    package mutating func destroy() {
        if count > 0 {
            while popFirst() != nil {}
        }
        if let storage { UnsafeMutableRawPointer(storage).deallocate() }
        storage = nil
        mask = -1
        head = 0
    }
}
