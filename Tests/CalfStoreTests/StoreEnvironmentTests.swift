import CLMDB
import Foundation
import Synchronization
import Testing
@testable import CalfStore

/// A fresh directory, removed when `body` returns.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try body(dir.path)
}

@Suite(.timeLimit(.minutes(2))) struct StoreEnvironmentTests {
    @Test func opensWithOwnerOnlyPermissions() throws {
        try withTemporaryDirectory { dir in
            let env = try StoreEnvironment(path: dir, mapSize: 1 << 20)
            #expect(env.mapSize == 1 << 20)
            let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/data.mdb")
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            env.close()
            #expect(StoreEnvironment.libraryVersion.hasPrefix("LMDB"))
        }
    }

    @Test func missingDirectoryIsAClearError() {
        do {
            _ = try StoreEnvironment(path: "/nonexistent/calf/\(UUID().uuidString)")
            Issue.record("opening a missing directory succeeded")
        } catch {
            #expect(error.operation.hasPrefix("mdb_env_open"))
            #expect(error.description.contains("No such file or directory"))
        }
    }

    @Test func namedDatabasesAreSeparateAndKeepBigEndianOrder() throws {
        try withTemporaryDirectory { dir in
            let env = try StoreEnvironment(path: dir)
            let log = try env.database("log")
            let names = try env.database("names")
            // Inserted out of order; 256 > 1 must sort after 1 (little-endian would not).
            try env.write { txn in
                for seq: UInt64 in [256, 1, 65_536, 2] {
                    try txn.put(log, key: StoreKey(seq), value: [UInt8(seq & 0xff)])
                }
                try txn.put(names, key: StoreKey("teller"), value: [7])
            }
            let order: [UInt64] = try env.read { txn in
                #expect(try txn.count(log) == 4)
                #expect(try txn.count(names) == 1)
                #expect(try txn.get(names, key: StoreKey("teller")).map(Array.init) == [7])
                #expect(try txn.get(log, key: StoreKey("teller")) == nil)
                return try txn.withCursor(log) { cursor in
                    var keys: [UInt64] = []
                    var entry = try cursor.first()
                    while let (key, _) = entry {
                        keys.append(StoreKey.uint64(in: key) ?? 0)
                        entry = try cursor.next()
                    }
                    return keys
                }
            }
            #expect(order == [1, 2, 256, 65_536])
            let seek: UInt64? = try env.read { txn in
                try txn.withCursor(log) { cursor in try cursor.seek(atLeast: StoreKey(3)).flatMap { StoreKey.uint64(in: $0.key) } }
            }
            #expect(seek == 256)
        }
    }

    @Test func appendOutOfOrderIsAnErrorAndWritesNothing() throws {
        try withTemporaryDirectory { dir in
            let env = try StoreEnvironment(path: dir)
            let log = try env.database("log")
            try env.write { txn in try txn.put(log, key: StoreKey(10), value: [1], append: true) }
            #expect(throws: StoreError.self) {
                try env.write { txn in
                    try txn.put(log, key: StoreKey(11), value: [2], append: true)
                    try txn.put(log, key: StoreKey(5), value: [3], append: true)
                }
            }
            #expect(try env.read { try $0.count(log) } == 1)
        }
    }

    @Test func theMapGrowsByItselfAndNothingIsLost() throws {
        try withTemporaryDirectory { dir in
            let env = try StoreEnvironment(path: dir, mapSize: 64 << 10)
            let log = try env.database("log")
            let value = [UInt8](repeating: 0xab, count: 200)
            var next: UInt64 = 0
            // Many small transactions, then one far larger than the map.
            for _ in 0..<50 {
                try env.write { txn in
                    for i in 0..<100 { try txn.put(log, key: StoreKey(next + UInt64(i)), value: value, append: true) }
                }
                next += 100
            }
            try env.write { txn in
                for i in 0..<20_000 { try txn.put(log, key: StoreKey(next + UInt64(i)), value: value, append: true) }
            }
            next += 20_000
            #expect(env.mapGrowths > 0)
            #expect(env.mapSize > 64 << 10)
            let (count, sum): (Int, UInt64) = try env.read { txn in
                try txn.withCursor(log) { cursor in
                    var count = 0
                    var sum: UInt64 = 0
                    var entry = try cursor.first()
                    while let (key, data) = entry {
                        #expect(data.count == 200)
                        sum += StoreKey.uint64(in: key) ?? 0
                        count += 1
                        entry = try cursor.next()
                    }
                    return (count, sum)
                }
            }
            #expect(count == Int(next))
            #expect(sum == next * (next - 1) / 2)
        }
    }

    @Test func readersRunBesideAWriterThatGrowsTheMap() async throws {
        try await withTemporaryDirectoryAsync { dir in
            let env = try StoreEnvironment(path: dir, mapSize: 64 << 10)
            let log = try env.database("log")
            try env.write { txn in try txn.put(log, key: StoreKey(0), value: [0]) }
            let written = CommitCount()
            let reads = CommitCount()
            // Both loops block (usleep, LMDB's lock) so each runs on a thread of
            // its own: on Swift's cooperative pool (as many threads as cores)
            // the reader could wait behind other suites' tests for longer than
            // the writer waits for it (a CI run failed so).
            let writer = onOwnThread {
                for batch in 0..<40 {
                    try env.write { txn in
                        for i in 0..<500 { try txn.put(log, key: StoreKey(UInt64(batch * 500 + i + 1)), value: [UInt8](repeating: 1, count: 100)) }
                    }
                    written.value.store(batch + 1, ordering: .releasing)
                    // Lets the reader in between commits (it reads on its own thread meanwhile).
                    let deadline = ContinuousClock.now + .seconds(30)
                    while reads.value.load(ordering: .acquiring) <= batch, ContinuousClock.now < deadline { usleep(100) }
                }
            }
            // Reads from the writer's first commit to its last, each of a whole commit.
            let reader = onOwnThread {
                var counts: [Int] = []
                while written.value.load(ordering: .acquiring) < 40 {
                    guard written.value.load(ordering: .acquiring) > 0 else { usleep(100); continue }
                    counts.append(try env.read { try $0.count(log) })
                    reads.value.store(counts.count, ordering: .releasing)
                }
                return counts
            }
            try await writer.value
            let counts = try await reader.value
            #expect(counts.count >= 39, "the reader read between the commits")
            // Every read saw whole commits, never part of one, and never went back.
            #expect(counts.allSatisfy { ($0 - 1) % 500 == 0 && $0 >= 501 }, "\(Set(counts).sorted())")
            #expect(counts == counts.sorted())
            #expect(try env.read { try $0.count(log) } == 20_001)
            #expect(env.mapGrowths > 0)
        }
    }

    @Test func aReadOnlyEnvironmentSeesCommittedDataAndRefusesWrites() throws {
        try withTemporaryDirectory { dir in
            let writer = try StoreEnvironment(path: dir)
            let log = try writer.database("log")
            try writer.write { try $0.put(log, key: StoreKey(1), value: [42]) }
            let reader = try StoreEnvironment(path: dir, readOnly: true)
            let readLog = try reader.database("log", create: false)
            #expect(try reader.read { try $0.get(readLog, key: StoreKey(1)).map(Array.init) } == [42])
            #expect(throws: StoreError.self) { try reader.write { _ in } }
            #expect(throws: StoreError.self) { _ = try reader.database("missing", create: false) }
        }
    }

    @Test func reserveWritesInPlaceAndDeleteRemoves() throws {
        try withTemporaryDirectory { dir in
            let env = try StoreEnvironment(path: dir, durability: .process)
            let db = try env.database("meta")
            try env.write { txn in
                try txn.reserve(db, key: StoreKey("k"), count: 3) { buffer in
                    buffer.copyBytes(from: [1, 2, 3])
                }
            }
            #expect(try env.read { try $0.get(db, key: StoreKey("k")).map(Array.init) } == [1, 2, 3])
            #expect(try env.write { try $0.delete(db, key: StoreKey("k")) })
            #expect(try env.write { try $0.delete(db, key: StoreKey("k")) } == false)
            try env.sync()
        }
    }
}

/// Starts blocking `work` on a thread of its own (never one of Swift's
/// cooperative threads) and hands back a task that awaits its result.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) -> Task<T, any Error> {
    let result = AsyncThrowingStream<T, any Error>.makeStream()
    Thread.detachNewThread {
        do { result.continuation.yield(try work()); result.continuation.finish() } catch { result.continuation.finish(throwing: error) }
    }
    return Task {
        for try await value in result.stream { return value }
        throw CancellationError() // not reached: the thread yields a value or throws before it finishes
    }
}

/// `withTemporaryDirectory` for async bodies.
func withTemporaryDirectoryAsync<T>(_ body: (String) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try await body(dir.path)
}

/// Commits a writer has done, read by another thread.
final class CommitCount: Sendable {
    let value = Atomic<Int>(0)
}
