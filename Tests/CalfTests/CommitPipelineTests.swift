import Calf
@testable import CalfDurable
@testable import CalfRuntime
import Testing

/// The commit pipeline's pure parts: idempotency keys and their retention,
/// the history window.
@Suite(.timeLimit(.minutes(1))) struct CommitPipelineTests {
    let second: UInt64 = 1_000_000_000

    @Test func aKeyIsTakenOnceWithinItsRetentionAndAgainAfter() {
        var keys = IdempotencyKeys(retention: 60 * second)
        var commit = IdempotencyKeys.Commit()
        #expect(keys.check("a", acceptedAt: 10 * second, now: 10 * second, index: 0, in: &commit) == .fresh)
        // The same key again in the same commit: the first one's record.
        #expect(keys.check("a", acceptedAt: 10 * second, now: 10 * second, index: 3, in: &commit) == .duplicateInCommit(index: 0))
        #expect(keys.check("b", acceptedAt: 10 * second, now: 10 * second, index: 4, in: &commit) == .fresh)
        keys.committed(commit, first: 100, roundFinished: false)
        #expect(keys.known["a"] == .init(seq: 100, acceptedAt: 10 * second) && keys.known["b"]?.seq == 104)
        // In a later commit: the seq it was accepted at, until the window passes.
        var later = IdempotencyKeys.Commit()
        #expect(keys.check("a", acceptedAt: 69 * second, now: 69 * second, index: 0, in: &later) == .duplicate(seq: 100))
        #expect(keys.check("a", acceptedAt: 70 * second, now: 70 * second, index: 0, in: &later) == .fresh)
    }

    @Test func aRoundWritesEveryKeySinceThePreviousOneExceptTheExpired() {
        var keys = IdempotencyKeys(retention: 60 * second)
        keys.restore(["old": .init(seq: 5, acceptedAt: 0), "kept": .init(seq: 6, acceptedAt: 50 * second)])
        var first = IdempotencyKeys.Commit()
        _ = keys.check("x", acceptedAt: 61 * second, now: 61 * second, index: 0, in: &first)
        keys.committed(first, first: 10, roundFinished: false)
        // The round's commit: the restored keys, x, and this commit's y; "old" expires after it.
        var round = IdempotencyKeys.Commit()
        _ = keys.check("y", acceptedAt: 62 * second, now: 62 * second, index: 2, in: &round)
        let persisted = Dictionary(uniqueKeysWithValues: keys.toPersist(after: round, first: 20).map { ($0.key, $0.entry) })
        #expect(persisted == ["old": .init(seq: 5, acceptedAt: 0), "kept": .init(seq: 6, acceptedAt: 50 * second),
                              "x": .init(seq: 10, acceptedAt: 61 * second), "y": .init(seq: 22, acceptedAt: 62 * second)])
        keys.committed(round, first: 20, roundFinished: true)
        #expect(keys.sinceRound.isEmpty)
        #expect(keys.expire(now: 62 * second) == ["old"])
        #expect(Set(keys.known.keys) == ["kept", "x", "y"])
        // Expired keys are not written by a later round.
        #expect(keys.expire(now: 200 * second).sorted() == ["kept", "x", "y"])
        var next = IdempotencyKeys.Commit()
        _ = keys.check("z", acceptedAt: 201 * second, now: 201 * second, index: 0, in: &next)
        #expect(keys.toPersist(after: next, first: 30).map(\.key) == ["z"])
    }

    @Test func theLogIsKeptForTheWindowAndWhileAnythingIsPending() {
        var window = HistoryWindow(length: 10 * second)
        // Rounds within the window drop nothing.
        #expect(window.roundFinished(at: 0, scanFrom: 100, lowestPending: .max) == 0)
        #expect(window.roundFinished(at: 5 * second, scanFrom: 200, lowestPending: .max) == 0)
        // Past the window: up to the oldest round's scan position.
        #expect(window.roundFinished(at: 11 * second, scanFrom: 300, lowestPending: .max) == 100)
        #expect(window.marks.map(\.scanFrom) == [200, 300])
        // Mail still pending below that keeps its records.
        #expect(window.roundFinished(at: 16 * second, scanFrom: 400, lowestPending: 150) == 150)
    }
}
