import CalfControl
import CalfShell
import Foundation

/// The traffic of the kill -9 tests: clients on threads of their own that
/// take numbered requests one after another until told to stop, each one
/// sent again until the node answers it `ok`, across the node's kills and
/// restarts (a request whose answer was lost to a kill may have been taken:
/// sending it again must not take it twice). Past `deadline` they give up,
/// so a test fails instead of hanging.
final class RetryingClients: Sendable {
    private let taking = Locked((next: 0, stop: false))
    private let answeredNumbers = Locked<Set<Int>>([])
    private let finished = EventCount()
    private let count: Int
    private let deadline: Date

    /// Starts `count` clients on the node of `dataDirectory`, request
    /// number n being `request(n)`, at most `limit` of them.
    init(count: Int, dataDirectory: String, limit: Int = .max, deadline: Date,
         request: @escaping @Sendable (Int) -> ControlRequest) {
        self.count = count
        self.deadline = deadline
        for _ in 0..<count {
            Thread.detachNewThread { [self] in
                var client: ControlClient?
                while true {
                    let taken = taking.withLock { taking -> Int? in
                        guard !taking.stop, taking.next < limit else { return nil }
                        defer { taking.next += 1 }
                        return taking.next
                    }
                    guard let number = taken, Date() < deadline else { break }
                    let sent = request(number)
                    while Date() < deadline {
                        if client == nil { client = try? ControlClient(dataDirectory: dataDirectory) }
                        if let reply = try? client?.request(sent), case .success = reply {
                            answeredNumbers.withLock { _ = $0.insert(number) }
                            break
                        }
                        client = nil
                        usleep(20_000)
                    }
                }
                finished.bump()
            }
        }
    }

    /// The requests answered so far, by number.
    var answered: Set<Int> { answeredNumbers.withLock { $0 } }

    /// Stops taking new requests; returns how many were taken (numbers `0..<n`).
    func stop() -> Int {
        taking.withLock { taking in
            taking.stop = true
            return taking.next
        }
    }

    /// Waits until every client has finished what it took (or the deadline passed);
    /// returns whether they all did.
    func finish() async -> Bool {
        await finished.reaches(count, within: max(0, deadline.timeIntervalSinceNow))
    }
}
