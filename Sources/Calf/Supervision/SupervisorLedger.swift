import CalfStore

/// What a durable supervisor keeps in the journal so that its tree comes
/// back the same after a node restart: per static child its restarts, last
/// exit and whether it was terminated or deleted; its recent restart times
/// (a crash loop's history); and its dynamic children with their arguments.
///
/// Stored in the journal's `ledgers` database, written in the same group
/// commit as the rest of the supervisor scheduler's outcomes:
/// `S path` → `Ledger`, `D path 0 key` → `DynamicChild`.
///
/// Thread ownership: the supervisor's scheduler thread, as its state.
final class SupervisorLedger {
    struct Child: Codable, Equatable {
        var restarts = 0
        var lastExit: String?
        /// Terminated by `terminateChild`: kept without a process.
        var stopped = false
        /// Deleted by `deleteChild`: not started from the spec again.
        var deleted = false
    }

    struct Ledger: Codable {
        var children: [String: Child] = [:]
        /// Wall-clock times (ns since the epoch) of the restarts the intensity still counts.
        var window: [UInt64] = []
        var totalRestarts = 0
        /// Dynamic children's keys are never given twice.
        var nextKey: UInt64 = 1
        /// The `startWith` children were started once.
        var seeded = false
    }

    struct DynamicChild: Codable {
        var restarts = 0
        var lastExit: String?
        /// The arguments of `startChild(with:)`, as the template's `ArgumentCoding` wrote them.
        var arguments: [UInt8]
    }

    let path: String
    let durable: DurableCore
    let scheduler: Scheduler
    var ledger = Ledger()

    init(path: String, durable: DurableCore, scheduler: Scheduler) {
        self.path = path
        self.durable = durable
        self.scheduler = scheduler
    }

    private var ledgerKey: StoreKey { StoreKey(bytes: [UInt8(ascii: "S")] + Array(path.utf8)) }

    private var dynamicPrefix: [UInt8] { [UInt8(ascii: "D")] + Array(path.utf8) + [0] }

    private func dynamicKey(_ key: UInt64) -> StoreKey { StoreKey(bytes: dynamicPrefix + StoreKey(key).bytes) }

    // MARK: Loading

    /// Reads what the journal holds for this supervisor: its ledger and its
    /// dynamic children in key order.
    /// - Throws: `StoreError`, or `DurableError.coding` for a record that does not decode.
    func load() throws -> [(key: UInt64, child: DynamicChild)] {
        let database = durable.journal.ledgers
        let ledgerKey = self.ledgerKey
        let prefix = dynamicPrefix
        let (ledgerBytes, dynamicBytes) = try durable.journal.environment.read { txn in
            let ledgerBytes = try txn.get(database, key: ledgerKey).map { Array($0) }
            var dynamic: [(UInt64, [UInt8])] = []
            try txn.withCursor(database) { cursor in
                var entry = try cursor.seek(atLeast: StoreKey(bytes: prefix))
                while let current = entry, current.key.starts(with: prefix) {
                    let key = StoreKey(bytes: Array(current.key.dropFirst(prefix.count)))
                    if let number = key.uint64() { dynamic.append((number, Array(current.value))) }
                    entry = try cursor.next()
                }
            }
            return (ledgerBytes, dynamic)
        }
        do {
            if let ledgerBytes { ledger = try BinaryDecoder().decode(Ledger.self, from: ledgerBytes) }
            return try dynamicBytes.map { ($0.0, try BinaryDecoder().decode(DynamicChild.self, from: $0.1)) }
        } catch {
            throw DurableError.coding("the journal's record of supervisor '\(path)' does not decode: \(error)")
        }
    }

    /// The saved restart times as monotonic times of this run.
    func restoredWindow() -> [UInt64] {
        let wallNow = WallTime.now.nanosecondsSinceEpoch
        let monotonicNow = monotonicNanoseconds()
        return ledger.window.map { wall in
            let age = wallNow > wall ? wallNow - wall : 0
            return monotonicNow > age ? monotonicNow - age : 0
        }
    }

    // MARK: Writing (into the scheduler's next group commit)

    /// Writes the ledger, with `window` (monotonic restart times) as it stands.
    func save(window: [UInt64]) {
        let wallNow = WallTime.now.nanosecondsSinceEpoch
        let monotonicNow = monotonicNanoseconds()
        ledger.window = window.map { wallNow &- (monotonicNow &- $0) }
        put(ledgerKey, ledger)
    }

    func saveDynamic(_ record: ChildRecord) {
        guard let coding = record.spec.argumentCoding, let arguments = record.arguments else { return }
        let bytes: [UInt8]
        do {
            bytes = try coding.encode(arguments)
        } catch {
            reportProblem("supervisor '\(path)': the arguments of a dynamic child do not encode, it will not come back after a node restart: \(error)")
            return
        }
        put(dynamicKey(record.key), DynamicChild(restarts: record.restarts, lastExit: record.lastExit, arguments: bytes))
    }

    func removeDynamic(_ record: ChildRecord) {
        let database = durable.journal.ledgers
        let key = dynamicKey(record.key)
        scheduler.durableBatch.entries.append(.write { txn in _ = try txn.delete(database, key: key) })
    }

    private func put(_ key: StoreKey, _ value: some Encodable) {
        let bytes: [UInt8]
        do {
            bytes = try BinaryEncoder().encode(value)
        } catch {
            // invariant: the ledger's types are plain structs of integers and strings.
            preconditionFailure("a supervisor ledger does not encode: \(error)")
        }
        let database = durable.journal.ledgers
        scheduler.durableBatch.entries.append(.write { txn in try txn.put(database, key: key, value: bytes) })
    }
}
