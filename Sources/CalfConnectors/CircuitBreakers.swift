import Calf
import Synchronization

/// A circuit breaker per destination (host and port): after `threshold`
/// failures in a row (transport errors, timeouts, 5xx) the destination is
/// open for `coolDown`, and requests to it wait instead of failing, so
/// that they do not burn their attempts on a host that is down; then one
/// request goes as a probe (half-open) while the others wait for it: its
/// success closes the circuit, its failure opens it again.
///
/// The breakers are the node's (in memory): a restart closes them all.
final class CircuitBreakers: Sendable {
    /// What a request that waited is told.
    enum Admission {
        /// Go ahead (and report how it went).
        case go(probe: Bool)
        /// Ask again after this.
        case wait(Duration)
    }

    private struct Breaker {
        var failures = 0
        var openUntil: ContinuousClock.Instant?
        var probing = false
    }

    private let threshold: Int
    private let coolDown: Duration
    private let breakers = Mutex<[String: Breaker]>([:])

    init(threshold: Int, coolDown: Duration) {
        self.threshold = max(1, threshold)
        self.coolDown = coolDown
    }

    /// Whether a request to `destination` may go now.
    func admit(_ destination: String, now: ContinuousClock.Instant = .now) -> Admission {
        breakers.withLock { all in
            guard var breaker = all[destination], let openUntil = breaker.openUntil else { return .go(probe: false) }
            if now < openUntil { return .wait(openUntil - now) }
            // Half-open: one probe at a time, the others wait for its verdict.
            if breaker.probing { return .wait(.milliseconds(50)) }
            breaker.probing = true
            all[destination] = breaker
            return .go(probe: true)
        }
    }

    /// How the request admitted went: `failed` (a transport error, a
    /// timeout, a 5xx) counts towards opening; nil (it was cancelled) says
    /// nothing but frees the probe's place.
    func report(_ destination: String, probe: Bool, failed: Bool?, now: ContinuousClock.Instant = .now) {
        breakers.withLock { all in
            var breaker = all[destination] ?? Breaker()
            if probe { breaker.probing = false }
            switch failed {
            case nil:
                break
            case false?:
                breaker = Breaker()
            case true?:
                breaker.failures += 1
                if probe || breaker.failures >= threshold { breaker.openUntil = now + coolDown }
            }
            all[destination] = breaker
        }
    }

    /// Whether `destination`'s circuit is open now.
    func isOpen(_ destination: String, now: ContinuousClock.Instant = .now) -> Bool {
        breakers.withLock { all in all[destination]?.openUntil.map { now < $0 } ?? false }
    }
}
