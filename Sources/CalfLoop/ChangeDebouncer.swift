/// Turns a `TreeWatcher`'s events into batches: a batch goes out once no
/// change has come for `quiet` milliseconds, or `maxWait` after its first
/// change however many keep coming (an editor saving, a build writing: one
/// batch, and never starved by constant writes). Each path is in a batch
/// once, with its last change; a rescan goes out in the batch it falls in.
///
/// Thread ownership: made, fed and closed on its loop's thread, where `deliver` runs; Sendable only to be handed to that thread.
public final class ChangeDebouncer: @unchecked Sendable {
    /// What changed over one quiet period.
    public struct Batch: Sendable, Equatable {
        /// Each changed path once, in the order first seen, with its last change.
        public var changes: [TreeChange]
        /// Why the trees must be scanned again (changes were missed), if they must.
        public var rescan: String?
    }

    private let quiet: Duration
    private let maxWait: Duration
    private let deliver: (Batch) -> Void
    private let timer: LoopTimer
    private var pending: [TreeChange] = []
    private var positions: [String: Int] = [:]
    private var rescan: String?
    private var firstAt: ContinuousClock.Instant?
    private var lastAt = ContinuousClock.now

    /// A debouncer on `loop` (its thread); `quiet` and `maxWait` in milliseconds.
    public init(loop: EventLoop, quiet: Int, maxWait: Int, deliver: @escaping (Batch) -> Void) throws(LoopError) {
        self.quiet = .milliseconds(quiet)
        self.maxWait = .milliseconds(max(quiet, maxWait))
        self.deliver = deliver
        timer = try LoopTimer(loop: loop)
    }

    /// Takes what the watcher reported.
    public func take(_ event: TreeWatchEvent) {
        let now = ContinuousClock.now
        switch event {
        case .changes(let changes):
            for change in changes {
                if let position = positions[change.path] {
                    pending[position] = change
                } else {
                    positions[change.path] = pending.count
                    pending.append(change)
                }
            }
        case .rescan(let reason):
            rescan = reason
        }
        lastAt = now
        if firstAt == nil {
            firstAt = now
            arm(after: quiet)
        }
    }

    /// Drops what waits and stops the timer.
    public func close() {
        timer.close()
        pending.removeAll()
        positions.removeAll()
        firstAt = nil
    }

    private func arm(after delay: Duration) {
        let milliseconds = max(1, UInt64(delay.components.seconds) * 1000 + UInt64(delay.components.attoseconds / 1_000_000_000_000_000))
        try? timer.start(milliseconds: milliseconds) { [weak self] in self?.due() }
    }

    private func due() {
        guard let firstAt else { return }
        let now = ContinuousClock.now
        let quietLeft = quiet - (now - lastAt)
        let capLeft = maxWait - (now - firstAt)
        if quietLeft > .zero, capLeft > .zero {
            arm(after: min(quietLeft, capLeft))
            return
        }
        let batch = Batch(changes: pending, rescan: rescan)
        pending.removeAll()
        positions.removeAll()
        rescan = nil
        self.firstAt = nil
        deliver(batch)
    }
}
