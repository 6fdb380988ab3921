// Effects: a durable handler's effect runs after its turn commits, at least
// once with one key, and its completion is journaled once (replay reads it,
// a restart of the node runs an effect under way again); a transient
// process's effect comes back as a message and dies with the process.
import Calf
import Foundation
import Synchronization
import Testing

@Suite(.serialized, .timeLimit(.minutes(2))) struct EffectTests {
    @Test func aDurableEffectIsRetriedWithOneKeyAndItsCompletionIsJournaledOnce() async throws {
        try await withDataDirectory { dir in
            let word = "alpha-\(UUID().uuidString.prefix(8).lowercased())"
            do {
                let node = try Node(schedulers: 2, durable: shouterOptions(dir))
                let shouter = try await node.spawnDurable(Shouter(), name: "shouter")
                node.send(.shout(Shout(word: word, failingAttempts: 2)), to: shouter)
                #expect(await eventually { (try? await shouterState(node, "shouter"))?.completions.count == 1 })
                let state = try await shouterState(node, "shouter")
                #expect(state.results[word] == word.uppercased())
                let completion = try #require(state.completions.first)
                #expect(completion.attempts == 3)
                #expect(completion.effect.id == state.asked.first)
                let attempts = EffectLog.attempts(of: word)
                #expect(attempts.map(\.number) == [1, 2, 3])
                #expect(Set(attempts.map(\.key)) == [completion.key], "one key on every attempt")
                #expect(completion.key.hasPrefix("calf-"))
                let kinds = try await node.journalEntries(of: "shouter").map(\.kind)
                #expect(kinds.contains("effectStarted") && kinds.contains("effectFinished"))
                try await node.shutdown()
            }
            // The next start replays both messages from the journal: the
            // effect is not run again, its recorded completion is read.
            let node = try Node(schedulers: 2, durable: shouterOptions(dir))
            #expect(try #require(node.recoveryReport).replayed >= 2)
            let state = try await shouterState(node, "shouter")
            #expect(state.results[word] == word.uppercased())
            #expect(state.completions.count == 1)
            try await Task.sleep(for: .milliseconds(50))
            #expect(EffectLog.attempts(of: word).count == 3)
            try await node.shutdown()
        }
    }

    @Test func effectsUnderWayAreListedWithTheirAttemptsNextRetryAndLastError() async throws {
        try await withDataDirectory { dir in
            let waiting = "eta-\(UUID().uuidString.prefix(8).lowercased())"
            let failing = "theta-\(UUID().uuidString.prefix(8).lowercased())"
            let node = try Node(schedulers: 2, durable: shouterOptions(dir))
            let shouter = try await node.spawnDurable(Shouter(), name: "shouter")
            node.send(.shout(Shout(word: waiting, waits: true)), to: shouter)
            node.send(.shoutSlowly(Shout(word: failing, failingAttempts: 5)), to: shouter)
            #expect(await eventually { (try? node.effectReports())?.first { $0.lastError != nil } != nil })
            let reports = try node.effectReports(of: "shouter")
            #expect(reports.count == 2)
            #expect(reports.allSatisfy { $0.name == "shouter" && $0.effect == "Shout" && $0.key.hasPrefix("calf-") && $0.attempts == 1 })
            let retrying = try #require(reports.first { $0.lastError != nil })
            #expect(retrying.lastError == "flaky: not this time")
            let wait = Double(try #require(retrying.nextAttemptAt)) / 1e9 - WallTime.now.secondsSinceEpoch
            #expect(wait > 50 && wait <= 60, "the next attempt in about a minute: \(wait)")
            #expect(reports.contains { $0.lastError == nil && $0.nextAttemptAt == nil }, "the waiting one")
            EffectLog.openGate(for: waiting)
            #expect(await eventually { (try? node.effectReports())?.count == 1 })
            #expect(throws: DurableError.self) { try node.effectReports(of: "nobody") }
            try await node.shutdown()
        }
    }

    @Test(arguments: [false, true])
    func anEffectUnderWayRunsAgainAfterARestartOfTheNodeWithTheSameKey(snapshotAtShutdown: Bool) async throws {
        try await withDataDirectory { dir in
            let word = "beta-\(UUID().uuidString.prefix(8).lowercased())"
            do {
                let node = try Node(schedulers: 2, durable: shouterOptions(dir, checkpointAtShutdown: snapshotAtShutdown))
                let shouter = try await node.spawnDurable(Shouter(), name: "shouter")
                node.send(.shout(Shout(word: word, waits: true)), to: shouter)
                #expect(await eventually { EffectLog.attempts(of: word).count == 1 })
                // It waits at its gate: the node stops with the effect under way.
                try await node.shutdown()
                #expect(EffectLog.cancelled(word), "the stop cancels the attempt")
            }
            EffectLog.openGate(for: word)
            do {
                let node = try Node(schedulers: 2, durable: shouterOptions(dir, checkpointAtShutdown: snapshotAtShutdown))
                #expect(await eventually { (try? await shouterState(node, "shouter"))?.completions.count == 1 })
                let state = try await shouterState(node, "shouter")
                #expect(state.results[word] == word.uppercased())
                let attempts = EffectLog.attempts(of: word)
                #expect(attempts.count == 2, "run again once, at the start")
                #expect(Set(attempts.map(\.key)) == [try #require(state.completions.first).key])
                try await node.shutdown()
            }
            // Finished: a further start neither runs it nor takes it twice.
            let node = try Node(schedulers: 2, durable: shouterOptions(dir, checkpointAtShutdown: snapshotAtShutdown))
            #expect(try await shouterState(node, "shouter").completions.count == 1)
            try await Task.sleep(for: .milliseconds(50))
            #expect(EffectLog.attempts(of: word).count == 2)
            try await node.shutdown()
        }
    }

    @Test func aFailureComesBackAfterItsPolicysAttemptsAndATerminalOneAtOnce() async throws {
        try await withDataDirectory { dir in
            let retried = "gamma-\(UUID().uuidString.prefix(8).lowercased())"
            let refused = "delta-\(UUID().uuidString.prefix(8).lowercased())"
            let node = try Node(schedulers: 1, durable: shouterOptions(dir))
            let shouter = try await node.spawnDurable(Shouter(), name: "shouter")
            node.send(.shout(Shout(word: retried, failingAttempts: 10)), to: shouter)
            node.send(.shout(Shout(word: refused, failingAttempts: 10, terminal: true)), to: shouter)
            #expect(await eventually { (try? await shouterState(node, "shouter"))?.completions.count == 2 })
            let state = try await shouterState(node, "shouter")
            #expect(state.results.isEmpty)
            #expect(Set(state.failures) == ["flaky", "refused"])
            #expect(EffectLog.attempts(of: retried).count == 3, "the policy's three attempts")
            #expect(EffectLog.attempts(of: refused).count == 1, "a terminal failure is not retried")
            let failure = try #require(state.completions.first { $0.failure?.kind == "flaky" }?.failure)
            #expect(failure.attempts == 3)
            try await node.shutdown()
        }
    }

    @Test func aProcessRestartedInPlaceReadsItsCompletionsWithoutRunningItsEffects() async throws {
        try await withDataDirectory { dir in
            let word = "epsilon-\(UUID().uuidString.prefix(8).lowercased())"
            let node = try Node(schedulers: 1, durable: shouterOptions(dir))
            let shouter = try await node.spawnDurable(Shouter(), name: "shouter")
            node.send(.shout(Shout(word: word)), to: shouter)
            #expect(await eventually { (try? await shouterState(node, "shouter"))?.completions.count == 1 })
            let before = try await shouterState(node, "shouter")
            node.kill(shouter)
            #expect(await eventually { await node.stats(window: .milliseconds(1)).log?.restarts == 1 })
            #expect(try await shouterState(node, "shouter") == before)
            #expect(EffectLog.attempts(of: word).count == 1)
            try await node.shutdown()
        }
    }

    @Test func aCancelledEffectNeverCompletesNorRunsAgain() async throws {
        try await withDataDirectory { dir in
            let word = "zeta-\(UUID().uuidString.prefix(8).lowercased())"
            do {
                let node = try Node(schedulers: 1, durable: shouterOptions(dir))
                let shouter = try await node.spawnDurable(Shouter(), name: "shouter")
                node.send(.shout(Shout(word: word, waits: true)), to: shouter)
                #expect(await eventually { EffectLog.attempts(of: word).count == 1 })
                node.send(.cancelLast, to: shouter)
                #expect(await eventually { EffectLog.cancelled(word) })
                EffectLog.openGate(for: word)
                try await Task.sleep(for: .milliseconds(50))
                #expect(try await shouterState(node, "shouter").completions.isEmpty)
                try await node.shutdown()
            }
            let node = try Node(schedulers: 1, durable: shouterOptions(dir))
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await shouterState(node, "shouter").completions.isEmpty)
            #expect(EffectLog.attempts(of: word).count == 1)
            try await node.shutdown()
        }
    }

    @Test func anEffectTheNodeCouldNotRunAgainFailsItsHandler() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 1, durable: shouterOptions(dir))
            let shouter = try await node.spawnDurable(Shouter(), name: "shouter")
            node.send(.unlisted, to: shouter)
            #expect(await eventually { (try? node.durableDeadLetters())?.count == 1 })
            let dead = try #require(try node.durableDeadLetters().first)
            #expect(dead.error.contains("'Unlisted' is not registered"))
            try await node.shutdown()
        }
    }

    // MARK: Transient processes

    @Test func aTransientProcessGetsItsEffectsOutcomeAsAMessage() async throws {
        let node = try Node(schedulers: 2)
        let (results, stream) = try await node.receiver(of: String.self)
        let runner = try await node.spawn(Caller(report: results))
        node.send(.fetch("omega", failing: 1), to: runner)
        node.send(.fetch("sigma", failing: 9), to: runner)
        var seen: Set<String> = []
        for await line in stream {
            seen.insert(line)
            if seen.count == 2 { break }
        }
        #expect(seen == ["OMEGA after 2", "flaky after 2"])
        try await node.shutdown()
    }

    @Test func aTransientProcessesEffectIsCancelledWhenItExits() async throws {
        let word = "theta-\(UUID().uuidString.prefix(8).lowercased())"
        let node = try Node(schedulers: 1)
        let (results, _) = try await node.receiver(of: String.self)
        let runner = try await node.spawn(Caller(report: results))
        node.send(.wait(word), to: runner)
        #expect(await eventually { EffectLog.attempts(of: word).count == 1 })
        node.kill(runner)
        #expect(await eventually { EffectLog.cancelled(word) })
        try await node.shutdown()
    }

    // MARK: Retry policies

    @Test func aPolicysWaitsGrowAreBoundedAndTheirJitterIsTheSameForTheSameKey() {
        let policy = RetryPolicy(initialBackoff: .milliseconds(100), multiplier: 2, maximumBackoff: .milliseconds(500), jitter: 0.5)
        let waits = (1...6).map { policy.backoff(afterAttempt: $0, key: "k1") }
        #expect(waits == (1...6).map { policy.backoff(afterAttempt: $0, key: "k1") }, "deterministic")
        #expect(waits != (1...6).map { policy.backoff(afterAttempt: $0, key: "k2") }, "drawn per key")
        let nominal: [Duration] = [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(500), .milliseconds(500), .milliseconds(500)]
        for (wait, full) in zip(waits, nominal) {
            #expect(wait <= full && wait >= full / 2)
        }
        let unjittered = RetryPolicy(initialBackoff: .milliseconds(100), maximumBackoff: .milliseconds(500), jitter: 0)
        #expect((1...4).map { unjittered.backoff(afterAttempt: $0, key: "k") } == Array(nominal.prefix(4)))
        let http = RetryPolicy(retryOn: [.kind("transport"), .status(500...599), .status(429...429)])
        #expect(http.retries(EffectFailure(kind: "status", message: "", status: 503), afterAttempt: 1))
        #expect(!http.retries(EffectFailure(kind: "status", message: "", status: 404), afterAttempt: 1))
        #expect(http.retries(EffectFailure(kind: "transport", message: ""), afterAttempt: 4))
        #expect(!http.retries(EffectFailure(kind: "transport", message: ""), afterAttempt: 5), "the default's five attempts")
        #expect(!RetryPolicy.default.retries(EffectFailure(kind: "status", message: "", terminal: true), afterAttempt: 1))
    }

    @Test func anAttemptPastItsTimeoutFailsAndTheDeadlineEndsTheRetries() async {
        let slow = RetryPolicy(maximumAttempts: 2, initialBackoff: .milliseconds(1), attemptTimeout: .milliseconds(20))
        let timedOut = await EffectRetries.run(policy: slow, key: "t", startedAt: .now) { _ in
            try await Task.sleep(for: .seconds(10))
            return 1
        }
        #expect(timedOut.attempts == 2)
        #expect((try? timedOut.result.get()) == nil)
        if case .failure(let failure) = timedOut.result { #expect(failure.kind == "timeout") }
        let short = RetryPolicy(maximumAttempts: 100, initialBackoff: .milliseconds(30), jitter: 0, maximumDuration: .milliseconds(100))
        let started = ContinuousClock.now
        let late = await EffectRetries.run(policy: short, key: "d", startedAt: .now) { _ -> Int in throw FlakyFailure() }
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(late.attempts < 10)
        if case .failure(let failure) = late.result { #expect(failure.kind == "deadline") } else { Issue.record("no failure") }
        let honoured = RetryPolicy(maximumAttempts: 2, initialBackoff: .milliseconds(1))
        let begun = ContinuousClock.now
        let waited = await EffectRetries.run(policy: honoured, key: "r", startedAt: .now) { attempt -> Int in
            if attempt.number == 1 { throw SlowDown() }
            return 7
        }
        #expect((try? waited.result.get()) == 7)
        #expect(ContinuousClock.now - begun >= .milliseconds(80), "the failure's retryAfter, not the 1 ms backoff")
    }
}

/// A failure asking for 80 ms before the next attempt.
private struct SlowDown: EffectError {
    var kind: String { "busy" }
    var retryAfter: Duration? { .milliseconds(80) }
}

/// A transient process whose effects report to a receiver.
private struct Caller: Behavior {
    let report: Address<String>

    enum Message: Sendable {
        case fetch(String, failing: Int)
        case wait(String)
        case done(Result<String, EffectFailure>, attempts: Int)
    }

    func handle(_ message: Message, state: inout Void, context: inout Context<Message>) throws {
        switch message {
        case .fetch(let word, let failing):
            let attempts = Atomic<Int>(0)
            let retry = RetryPolicy(maximumAttempts: 2, initialBackoff: .milliseconds(1))
            context.run(retry: retry, { attempt -> String in
                attempts.add(1, ordering: .relaxed)
                if attempt.number <= failing { throw FlakyFailure() }
                return word.uppercased()
            }, then: { .done($0, attempts: attempts.load(ordering: .relaxed)) })
        case .wait(let word):
            context.run({ attempt -> String in
                EffectLog.record(word, attempt)
                try await EffectLog.waitAtGate(word)
                return word
            }, then: { .done($0, attempts: 1) })
        case .done(let result, let attempts):
            switch result {
            case .success(let value): context.send("\(value) after \(attempts)", to: report)
            case .failure(let failure): context.send("\(failure.kind) after \(attempts)", to: report)
            }
        }
    }
}
