import Calf
import CalfLoop
import CalfRuntime
import Foundation
import Synchronization
import class Yams.YAMLDecoder

/// Runs a graph on a node: its durable process (`ID/graph`), and on a
/// loop thread of its own the watcher of its sets: at the start every set
/// is scanned and digested (what changed while the node was down shows as
/// a digest its tasks' last runs did not see), then each debounced batch
/// goes to the graph as a journaled `changed` message. It watches its
/// graph file too: an edit that checks is loaded (`reload`), one that does
/// not keeps the running version and says why.
///
/// Thread ownership: its watch state (`sets`, `watcher`, `debouncers`,
/// `spec`) is touched on its loop's thread only; `messages` is the one way
/// to the graph's process (a serial sender, so the graph gets them in order).
public final class GraphHost: @unchecked Sendable {
    /// The graph's process.
    public let process: Address<GraphProcess.Message>
    private let node: Node
    private let loop: EventLoop
    private let file: String
    /// The graph is a `- graph: ID` entry of a tree file, not a graph file.
    private let inTree: Bool
    private let behaviors: Set<String>
    private var spec: GraphSpec
    private var version: String
    private var sets: [WatchSetIndex] = []
    private var watcher: TreeWatcher?
    private var fileWatcher: TreeWatcher?
    /// Each watched set's debouncer (its own `debounce` and `maxWait`), by index; none for a polled set.
    private var debouncers: [Int: ChangeDebouncer] = [:]
    /// One timer per polled set (`poll:` above zero), and the sets whose last poll saw a change.
    private var pollTimers: [LoopTimer] = []
    /// The sets whose file list is to be written, and the timer that writes them.
    private var dirtyLists: Set<Int> = []
    private var listTimer: LoopTimer?
    private let dataDirectory: String
    private var pollPending: Set<Int> = []
    private var generation: UInt64 = 0
    private let boot = WallClock.milliseconds()
    /// The worker behaviors the node knows, by name.
    private let workers: [String: any GraphWorker.Type]
    /// How each worker task's process is sent an outcome, once it is up.
    private let deliverers = Mutex<[String: @Sendable (TaskOutcome, String) async -> Bool]>([:])
    private let messages: AsyncStream<(GraphProcess.Message, String?)>.Continuation
    private let sender: Task<Void, Never>

    /// Starts graph `spec` (read from `file`, a graph file, or with `inTree`
    /// a tree file with it as an entry; `version` its `GraphFile.version`)
    /// on `node`: its process made or found, every set scanned, the graph
    /// told of the start, the watcher running; the daemons that `runner`
    /// (the node's) reports ready are told to the graph; each `worker:` task's
    /// process (of its behavior among `workers`) is made or found.
    /// - Throws: `DurableError` if its process cannot start, `TreeWatchError`
    ///   or `LoopError` if its trees cannot be watched.
    public init(spec: GraphSpec, version: String, file: String, inTree: Bool = false, behaviors: Set<String>,
                workers: [String: any GraphWorker.Type] = [:], node: Node, runner: GraphRunner?) async throws {
        self.spec = spec
        self.workers = workers
        self.version = version
        self.file = file
        self.inTree = inTree
        self.behaviors = behaviors
        self.node = node
        let dataDirectory = node.dataDirectory ?? "."
        self.dataDirectory = dataDirectory
        process = try await node.ensureDurable(GraphProcess(id: spec.id, dataDirectory: dataDirectory), name: "\(spec.id)/graph")
        loop = try EventLoop(name: "calf-graph-watch")
        let (stream, continuation) = AsyncStream.makeStream(of: (GraphProcess.Message, String?).self)
        messages = continuation
        let address = process
        sender = Task {
            for await (message, key) in stream {
                // Refused only while the node stops or is overloaded: a few tries, then it is left to the next start's scan.
                for attempt in 0..<20 {
                    if case .failed(let why) = await node.send(message, to: address, key: key) {
                        if case .overloaded = why, attempt < 19 { try? await Task.sleep(for: .milliseconds(100)); continue }
                    }
                    break
                }
            }
        }
        runner?.link(graph: spec.id, GraphLink(ready: { task, run in
            continuation.yield((.ready(task: task, run: run), "\(task)#\(run)#ready"))
        }, deliver: { [weak self] worker, outcome, key in
            guard let send = self?.deliverers.withLock({ $0[worker] }) else { return false }
            return await send(outcome, key)
        }))
        try await startWorkers(of: spec)
        let failure: UncheckedBox<(any Error)?> = await withCheckedContinuation { continuation in
            loop.execute { [self] in
                do {
                    try watchTrees()
                    try watchFile()
                    let timer = try LoopTimer(loop: loop)
                    try timer.start(milliseconds: 1000, repeatMilliseconds: 1000) { [weak self] in self?.flushFileLists() }
                    listTimer = timer
                    continuation.resume(returning: UncheckedBox(nil))
                } catch {
                    continuation.resume(returning: UncheckedBox(error))
                }
            }
        }
        if let error = failure.value {
            stop()
            throw error
        }
        let (digests, whileDown) = await onLoop { [self] in
            (Dictionary(uniqueKeysWithValues: sets.map { ($0.matcher.id, $0.digest) }), changedWhileDown())
        }
        if !whileDown.isEmpty {
            let text = "graph \(spec.id): changed while the node was down: " + whileDown.joined(separator: "; ")
            FileHandle.standardError.write(Data(("calf: " + text + "\n").utf8))
            messages.yield((.note(text), nil))
        }
        messages.yield((.start(spec, version: version, digests: digests), nil))
    }

    // MARK: File lists

    /// Where set `id`'s file list is kept between starts.
    private func fileListPath(_ id: String) -> String { "\(dataDirectory)/graph/\(spec.id)/sets/\(id).files" }

    /// For each set with a file list from before: the files that differ
    /// now ("sources: a.swift, b.swift (+3)"); then each list is written anew.
    private func changedWhileDown() -> [String] {
        var found: [String] = []
        for index in sets.indices {
            let id = sets[index].matcher.id
            if let previous = try? String(contentsOfFile: fileListPath(id), encoding: .utf8) {
                let changed = sets[index].changes(since: previous)
                if !changed.isEmpty {
                    let names = changed.prefix(5).map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")
                    found.append("\(id): \(names)\(changed.count > 5 ? " (+\(changed.count - 5))" : "")")
                }
            }
            writeFileList(index)
        }
        return found
    }

    /// Keeps set `index`'s file list (whole or not at all).
    private func writeFileList(_ index: Int) {
        let path = fileListPath(sets[index].matcher.id)
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? Data(sets[index].fileList.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Writes the file lists of the sets changed since the last write (at most once a second).
    private func flushFileLists() {
        for index in dirtyLists where sets.indices.contains(index) { writeFileList(index) }
        dirtyLists = []
    }

    /// Stops watching (the graph's process stays; its runs stop with the node).
    public func stop() {
        messages.finish()
        loop.execute { [self] in
            watcher?.close()
            fileWatcher?.close()
            fileDebouncer?.close()
            for debouncer in debouncers.values { debouncer.close() }
            for timer in pollTimers { timer.close() }
            pollTimers = []
            flushFileLists()
            listTimer?.close()
            listTimer = nil
            watcher = nil
            fileWatcher = nil
            debouncers = [:]
        }
        _ = try? loop.shutdown()
    }

    /// Makes or finds the process of each worker task of `spec` (`ID/TASK`, its behavior made from its config).
    private func startWorkers(of spec: GraphSpec) async throws {
        for task in spec.tasks where task.kind == .worker {
            guard let name = task.behavior, let type = workers[name] else {
                throw GraphWorkerError(description: "worker \(task.id): '\(task.behavior ?? "")' is not a behavior that takes task outcomes (a GraphWorker the node knows)")
            }
            let send = try await Self.ensure(type, config: task.config, name: "\(spec.id)/\(task.id)", node: node)
            deliverers.withLock { $0[task.id] = send }
        }
    }

    /// Worker `name`'s behavior, made from its `config` (YAML; none: `{}`).
    static func worker<W: GraphWorker>(_ type: W.Type, config: String?, name: String) throws -> W {
        do {
            return try YAMLDecoder().decode(W.self, from: config ?? "{}")
        } catch {
            throw GraphWorkerError(description: "bad config for worker \(name) (\(W.behaviorName)): \(error)")
        }
    }

    private static func ensure<W: GraphWorker>(_ type: W.Type, config: String?, name: String, node: Node) async throws
        -> @Sendable (TaskOutcome, String) async -> Bool {
        let address = try await node.ensureDurable(try worker(type, config: config, name: name), name: name)
        return { outcome, key in
            if case .failed = await node.send(W.message(outcome), to: address, key: key) { return false }
            return true
        }
    }

    // MARK: On the loop

    private func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in loop.execute { continuation.resume(returning: body()) } }
    }

    /// Scans every set and watches the trees they need (a polled set is scanned again every `poll` ms instead).
    private func watchTrees() throws {
        let gitignore = spec.gitignore ? IgnoreRules.gitignore(at: spec.root) : IgnoreRules()
        sets = spec.watches.map { WatchSetIndex(WatchSetMatcher($0, in: spec, gitignore: gitignore), paths: $0.paths) }
        for index in sets.indices { _ = sets[index].rescan() }
        for timer in pollTimers { timer.close() }
        pollTimers = []
        pollPending = []
        for (index, watch) in spec.watches.enumerated() where watch.poll > 0 {
            let timer = try LoopTimer(loop: loop)
            try timer.start(milliseconds: UInt64(watch.poll), repeatMilliseconds: UInt64(watch.poll)) { [weak self] in self?.poll(index) }
            pollTimers.append(timer)
        }
        let watched = spec.watches.indices.filter { spec.watches[$0].poll == 0 }
        let matchers = watched.map { sets[$0].matcher }
        for debouncer in debouncers.values { debouncer.close() }
        debouncers = [:]
        var routes: [(paths: [String], debouncer: ChangeDebouncer)] = []
        for index in watched {
            let watch = spec.watches[index]
            let debouncer = try ChangeDebouncer(loop: loop, quiet: watch.debounce ?? spec.debounce, maxWait: watch.maxWait ?? spec.maxWait) { [weak self] batch in
                self?.take(batch, set: index)
            }
            debouncers[index] = debouncer
            routes.append((sets[index].paths, debouncer))
        }
        let watcher = try TreeWatcher(loop: loop, ignored: { path, isDirectory in
            !matchers.isEmpty && matchers.allSatisfy { $0.excludes(path, isDirectory: isDirectory) }
        }, report: { event in
            // Each set's debouncer gets the changes at or under its paths (a missed queue: every one).
            guard case .changes(let changes) = event else {
                for route in routes { route.debouncer.take(event) }
                return
            }
            for route in routes {
                let mine = changes.filter { change in route.paths.contains { change.path == $0 || change.path.hasPrefix($0 + "/") } }
                if !mine.isEmpty { route.debouncer.take(.changes(mine)) }
            }
        })
        for directory in Set(matchers.flatMap(\.directories)).sorted() { try watcher.watch(directory) }
        self.watcher = watcher
    }

    /// A polled set's scan: once a change is seen, the graph is told at the first poll that sees no more (its debounce).
    private func poll(_ index: Int) {
        guard sets.indices.contains(index) else { return }
        let changed = sets[index].rescan()
        if !changed.isEmpty {
            pollPending.insert(index)
            pollChanges[index, default: []] += changed
            return
        }
        guard pollPending.remove(index) != nil else { return }
        send(index, Array(Set(pollChanges.removeValue(forKey: index) ?? [])).sorted())
    }

    private var pollChanges: [Int: [String]] = [:]

    /// Tells the graph set `index` changed (`changed`: its changed paths).
    private func send(_ index: Int, _ changed: [String]) {
        dirtyLists.insert(index)
        generation += 1
        let id = sets[index].matcher.id
        messages.yield((.changed(set: id, digest: sets[index].digest, paths: Array(changed.prefix(20))), "\(id)#\(boot)#\(generation)"))
    }

    /// Set `index`'s debounced batch (its changes only; `update` leaves out
    /// what it excludes): it goes to the graph if a file of it changed.
    private func take(_ batch: ChangeDebouncer.Batch, set index: Int) {
        guard sets.indices.contains(index) else { return }
        let changed = batch.rescan != nil ? sets[index].rescan() : sets[index].update(batch.changes.map(\.path))
        if !changed.isEmpty { send(index, changed) }
    }

    /// Watches the graph file: an edit is checked and loaded, or kept back with why.
    private func watchFile() throws {
        let path = (file as NSString).standardizingPath
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let directory = (absolute as NSString).deletingLastPathComponent
        let debouncer = try ChangeDebouncer(loop: loop, quiet: 200, maxWait: 2000) { [weak self] batch in
            guard batch.rescan != nil || batch.changes.contains(where: { $0.path == absolute }) else { return }
            self?.reloadFile(absolute)
        }
        let watcher = try TreeWatcher(loop: loop, ignored: { candidate, isDirectory in isDirectory && candidate != directory }, report: { debouncer.take($0) })
        try watcher.watch(directory)
        fileWatcher = watcher
        fileDebouncer = debouncer
    }

    private var fileDebouncer: ChangeDebouncer?

    private func reloadFile(_ path: String) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        if !inTree, GraphHost.version(of: text) == version { return }
        do throws(GraphFileProblems) {
            let checked = inTree ? try GraphFile(path: file, text: text, entry: spec.id, behaviors: behaviors)
                                 : try GraphFile(path: file, text: text, behaviors: behaviors)
            let newVersion = checked.version
            guard newVersion != version else { return }
            guard checked.spec.id == spec.id else {
                keepBack("its id changed from \(spec.id) to \(checked.spec.id) (a node runs the graph it started with)")
                return
            }
            spec = checked.spec
            version = newVersion
            watcher?.close()
            do {
                try watchTrees()
            } catch {
                messages.yield((.note("graph \(spec.id): its trees could not all be watched after the reload: \(error)"), nil))
            }
            messages.yield((.reload(checked.spec, version: newVersion), nil))
            let reloaded = checked.spec
            Task { [self] in
                do {
                    try await startWorkers(of: reloaded)
                } catch {
                    messages.yield((.note("graph \(reloaded.id): \(error)"), nil))
                }
            }
        } catch {
            keepBack(error.description)
        }
    }

    private func keepBack(_ why: String) {
        let text = "graph file \(file) was edited into a state that does not check; version \(version) keeps running:\n\(why)"
        FileHandle.standardError.write(Data(("calf: " + text + "\n").utf8))
        messages.yield((.note(text), nil))
    }

    /// The version of a graph file's text (its digest).
    public static func version(of text: String) -> String {
        var hash = StableHash()
        hash.add(text)
        return hash.hex
    }
}

/// A worker task whose process cannot be made.
public struct GraphWorkerError: Error, CustomStringConvertible {
    /// What is wrong.
    public let description: String
}
