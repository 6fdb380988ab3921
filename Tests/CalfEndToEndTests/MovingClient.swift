import CalfControl
import CalfShell
import Foundation

/// An operator that keeps moving processes between schedulers (`move P N`
/// on the control socket) from a thread of its own, across the node's
/// kills and restarts, until told to stop. It counts the moves the node
/// made (answered ok) and those it refused (`not_moved`: a checkpoint
/// round under way, a rebuild, a move already under way).
final class MovingClient: Sendable {
    private let state = Locked((moved: 0, refused: 0, stop: false))
    private let finished = EventCount()

    /// Moves one of `targets`, chosen at random, to one of `schedulers`
    /// schedulers every `pauseMicroseconds` or so.
    init(dataDirectory: String, targets: [String], schedulers: Int, pauseMicroseconds: UInt32 = 1_000) {
        Thread.detachNewThread { [self] in
            var client: ControlClient?
            while !state.withLock({ $0.stop }) {
                if client == nil { client = try? ControlClient(dataDirectory: dataDirectory) }
                let request = ControlRequest.move(targets.randomElement()!, toScheduler: Int.random(in: 0..<schedulers))
                switch try? client?.request(request) {
                case .success?: state.withLock { $0.moved += 1 }
                case .failure(let error)? where error.code == .notMoved: state.withLock { $0.refused += 1 }
                default:
                    // The node is down (killed) or restarting: connect again.
                    client = nil
                    usleep(10_000)
                }
                usleep(pauseMicroseconds)
            }
            finished.bump()
        }
    }

    /// Moves made so far.
    var moved: Int { state.withLock { $0.moved } }

    /// Moves refused so far.
    var refused: Int { state.withLock { $0.refused } }

    /// Stops moving and waits until the thread has.
    func stop() async {
        state.withLock { $0.stop = true }
        _ = await finished.reaches(1, within: 10)
    }
}
