import Synchronization

/// A count that threads bump as things happen and a test awaits, woken by
/// the bump itself (no polling): `await count.reaches(3, within: 5)`.
final class EventCount: Sendable {
    private struct Waiter {
        var target: Int
        var token: Int
        var continuation: CheckedContinuation<Bool, Never>
    }

    private let state = Mutex<(count: Int, next: Int, waiters: [Waiter])>((0, 0, []))

    /// How many so far.
    var value: Int { state.withLock { $0.count } }

    /// One more happened (any thread).
    func bump() {
        let ready = state.withLock { state -> [Waiter] in
            state.count += 1
            let count = state.count
            let ready = state.waiters.filter { $0.target <= count }
            state.waiters.removeAll { $0.target <= count }
            return ready
        }
        for waiter in ready { waiter.continuation.resume(returning: true) }
    }

    /// Whether the count reaches `target` within `seconds`.
    func reaches(_ target: Int, within seconds: Double = 5) async -> Bool {
        await withCheckedContinuation { continuation in
            let token = state.withLock { state -> Int? in
                if state.count >= target { return nil }
                state.next += 1
                state.waiters.append(Waiter(target: target, token: state.next, continuation: continuation))
                return state.next
            }
            guard let token else { return continuation.resume(returning: true) }
            Task {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                let expired = state.withLock { state -> Waiter? in
                    guard let index = state.waiters.firstIndex(where: { $0.token == token }) else { return nil }
                    return state.waiters.remove(at: index)
                }
                expired?.continuation.resume(returning: false)
            }
        }
    }
}
