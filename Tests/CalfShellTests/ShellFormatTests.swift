import CalfControl
import Glibc
import Testing
@testable import CalfShell

/// Figures in a node's answer are data from outside the shell: whatever
/// they hold, formatting them never traps.
@Suite(.timeLimit(.minutes(2))) struct ShellFormatTests {
    @Test func wholeNumbersFromTheNodeNeverTrap() {
        #expect(ShellFormat.whole(12.4) == "12")
        #expect(ShellFormat.whole(-3.6) == "-4")
        #expect(ShellFormat.whole(.infinity) == "-")
        #expect(ShellFormat.whole(-.infinity) == "-")
        #expect(ShellFormat.whole(.nan) == "-")
        // Beyond Int's range (Int(1e300) traps): printed as the Double it is.
        #expect(ShellFormat.whole(1e300) == "1e+300")
    }

    @Test func effectsShowAttemptsTheNextRetryAndTheLastError() {
        #expect(ShellFormat.effects([]) == "no effects under way")
        let soon = UInt64((WallClock.nowSeconds() + 30) * 1e9)
        let text = ShellFormat.effects([
            EffectReport(pid: "<0.1.0>", name: "stamper", id: 513, effect: "Stamp", key: "calf-k-1-513", startedAt: 0, attempts: 2,
                         lastError: "flaky: not this time", nextAttemptAt: soon),
            EffectReport(pid: "<0.1.0>", name: nil, id: 514, effect: "Stamp", key: "calf-k-1-514", startedAt: 0, attempts: 1,
                         lastError: nil, nextAttemptAt: .max),
        ])
        #expect(text.contains("stamper") && text.contains("flaky: not this time") && text.contains("calf-k-1-513"))
        #expect(text.contains("in 29.") || text.contains("in 30."), "\(text)")
        #expect(text.contains("later"), "a time from outside far off never traps")
    }
}

/// The wall clock, in seconds.
enum WallClock {
    static func nowSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
