import Glibc
import Yams

/// A problem with a graph file, with its place (`file:line:column: what`).
public struct GraphFileProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// The whole message.
    public let description: String
}

/// The problems found in a graph file, all of them (nothing starts while there is one).
public struct GraphFileProblems: Error, Sendable, CustomStringConvertible {
    /// Each problem, in the order found.
    public let problems: [GraphFileProblem]
    /// One per line.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Reads a graph file (`graph: ID` at its root) and checks it whole: keys,
/// values, kinds, names, dependencies (unknown ones with the closest known
/// name, cycles with their whole path), commands in PATH, directories.
/// Every problem is reported with `file:line:column`; the file is taken
/// only when there is none. The format is in `Supervisors/README.md`.
public struct GraphFile {
    /// The graph, when the file had no problem.
    public let spec: GraphSpec
    /// What is accepted but worth knowing, with its place: a task's outputs
    /// inside one of its input sets (outputs are never watched, so they are
    /// taken out of every watch set).
    public let notes: [String]
    /// The graph's version: the digest of its file's text (of its entry's,
    /// for a graph inside a tree file).
    public let version: String

    /// Reads `text`, the content of `path`; `behaviors` are the durable
    /// behaviors the node knows (for `worker:` tasks); `searchPath` is where
    /// programs named without a slash are looked for (the process's PATH by default).
    public init(path: String, text: String, behaviors: Set<String>, searchPath: String? = nil) throws(GraphFileProblems) {
        var reader = GraphFileReader(path: path, behaviors: behaviors, searchPath: searchPath ?? getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin")
        let spec = reader.read(text)
        guard reader.problems.isEmpty, let spec else { throw GraphFileProblems(problems: reader.problems) }
        self.spec = spec
        notes = reader.notes
        var hash = StableHash()
        hash.add(text)
        version = hash.hex
    }

    /// Reads the `- graph: ID` entry `node` of the tree file `path` (the same keys as a graph file's root).
    public init(path: String, entry node: Yams.Node, behaviors: Set<String>, searchPath: String? = nil) throws(GraphFileProblems) {
        var reader = GraphFileReader(path: path, behaviors: behaviors, searchPath: searchPath ?? getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin")
        let spec = reader.read(document: node)
        guard reader.problems.isEmpty, let spec else { throw GraphFileProblems(problems: reader.problems) }
        self.spec = spec
        notes = reader.notes
        var hash = StableHash()
        hash.add((try? Yams.serialize(node: node)) ?? "")
        version = hash.hex
    }

    /// Reads the `- graph: ID` entry with id `id` of the tree file `path` whose content is `text`.
    public init(path: String, text: String, entry id: String, behaviors: Set<String>, searchPath: String? = nil) throws(GraphFileProblems) {
        let document: Yams.Node?
        do {
            document = try Yams.compose(yaml: text)
        } catch {
            throw GraphFileProblems(problems: [GraphFileProblem(description: "\(path): not YAML: \(error)")])
        }
        guard let document, let entry = Self.entry(id, in: document) else {
            throw GraphFileProblems(problems: [GraphFileProblem(description: "\(path): no '- graph: \(id)' entry in its children any more")])
        }
        try self.init(path: path, entry: entry, behaviors: behaviors, searchPath: searchPath)
    }

    /// The mapping `graph: id` in `node` or under it (a tree's children, at any depth).
    static func entry(_ id: String, in node: Yams.Node) -> Yams.Node? {
        if let mapping = node.mapping {
            if mapping["graph"]?.string == id { return node }
            for (_, value) in mapping { if let found = entry(id, in: value) { return found } }
        }
        for item in node.sequence ?? [] { if let found = entry(id, in: item) { return found } }
        return nil
    }
}

/// The reading of one graph file, problems collected as it goes.
struct GraphFileReader {
    let path: String
    let behaviors: Set<String>
    let searchPath: String
    var problems: [GraphFileProblem] = []
    var notes: [String] = []
    /// Where each task and watch set was declared, for later messages.
    private var taskPlaces: [String: Yams.Node] = [:]
    private var edgePlaces: [String: [String: Yams.Node]] = [:]

    init(path: String, behaviors: Set<String>, searchPath: String) {
        self.path = path
        self.behaviors = behaviors
        self.searchPath = searchPath
    }

    static let rootKeys = ["graph", "root", "ignore", "gitignore", "debounce", "maxWait", "parallel", "history", "shell", "env", "watches", "tasks"]
    static let watchKeys = ["watch", "paths", "ignore", "debounce", "maxWait", "poll"]
    static let jobKeys = ["job", "command", "shell", "script", "interpreter", "cwd", "env", "inputs", "outputs", "dependsOn", "auto",
                          "onStart", "onBusy", "lock", "timeout", "killAfter", "retry", "stdin"]
    static let daemonKeys = ["daemon", "command", "shell", "script", "interpreter", "cwd", "env", "inputs", "dependsOn", "auto",
                             "onStart", "ready", "reload", "restart", "backoff", "intensity", "period", "killAfter", "stdin"]
    static let workerKeys = ["worker", "behavior", "config", "dependsOn"]

    mutating func read(_ text: String) -> GraphSpec? {
        let document: Yams.Node?
        do {
            document = try Yams.compose(yaml: text)
        } catch {
            problems.append(GraphFileProblem(description: "\(path): not YAML: \(error)"))
            return nil
        }
        guard let document else {
            problems.append(GraphFileProblem(description: "\(path): expected a mapping starting with 'graph: ID'"))
            return nil
        }
        return read(document: document)
    }

    /// Reads a graph from its mapping (a file's root, or a tree file's entry).
    mutating func read(document: Yams.Node) -> GraphSpec? {
        guard let top = document.mapping else {
            problems.append(GraphFileProblem(description: "\(path): expected a mapping starting with 'graph: ID'"))
            return nil
        }
        guard let id = top["graph"]?.string, !id.isEmpty else {
            report(document, "the root needs 'graph: ID'")
            return nil
        }
        checkKeys(top, allowed: Self.rootKeys, what: "a graph")
        let directory = Self.directory(of: path)
        var root = directory
        if let node = top["root"] {
            if let text = node.string {
                root = Self.resolve(text, from: directory)
                if !Self.isDirectory(root) { report(node, "root '\(text)' is not a directory (\(root))") }
            } else {
                report(node, "root must be a path")
            }
        }
        let debounce = integer(top["debounce"], "debounce", atLeast: 10) ?? 200
        let maxWait = integer(top["maxWait"], "maxWait", atLeast: 10) ?? 10_000
        if let node = top["maxWait"], maxWait < debounce { report(node, "maxWait (\(maxWait) ms) must be at least debounce (\(debounce) ms)") }
        let shell = strings(top["shell"], "shell") ?? ["/bin/sh", "-c"]
        if let node = top["shell"] {
            if shell.isEmpty { report(node, "shell must name a program") } else { checkProgram(shell[0], at: node, what: "the graph's shell", root: root) }
        }
        var spec = GraphSpec(
            id: id, root: root, ignore: strings(top["ignore"], "ignore") ?? [], gitignore: flag(top["gitignore"], "gitignore") ?? true,
            debounce: debounce, maxWait: maxWait, parallel: integer(top["parallel"], "parallel", atLeast: 1) ?? 1,
            history: integer(top["history"], "history", atLeast: 1) ?? 100, shell: shell,
            environment: environment(top["env"]), watches: [], tasks: [])
        // The default parallelism: half the cores, at least one.
        if top["parallel"] == nil { spec.parallel = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) / 2) }

        var watchPlaces: [String: Yams.Node] = [:]
        if let node = top["watches"] {
            spec.watches = entries(node, named: "watch set", places: &watchPlaces, listing: "'- watch: ID' entries") { reader, item in
                reader.watchSet(item, root: root, graph: spec).map { ($0.id, $0) }
            }
        }
        if let node = top["tasks"] {
            var places: [String: Yams.Node] = [:]
            spec.tasks = entries(node, named: "task", places: &places, listing: "'- job: ID', '- daemon: ID' or '- worker: ID' entries") { reader, item in
                reader.task(item, root: root, graph: spec).map { ($0.id, $0) }
            }
            taskPlaces = places
        } else {
            report(document, "graph '\(id)' needs a 'tasks' list")
        }
        let kinds = Dictionary(spec.tasks.map { ($0.id, $0.kind) }, uniquingKeysWith: { first, _ in first })
        for index in spec.tasks.indices {
            for edge in spec.tasks[index].dependsOn.indices {
                let upstream = spec.tasks[index].dependsOn[edge].task
                if implicitConditions.contains([spec.tasks[index].id, upstream]), kinds[upstream] == .daemon {
                    spec.tasks[index].dependsOn[edge].condition = .ready
                }
            }
        }
        checkReferences(spec, watchPlaces: watchPlaces)
        noteOutputsInInputs(spec)
        checkCycles(spec)
        return spec
    }

    // MARK: Entries

    /// The entries of the list `node`, each read by `read` (nil: a problem
    /// was reported); a second entry with an id is refused, naming the first's line.
    private mutating func entries<T>(
        _ node: Yams.Node, named kind: String, places: inout [String: Yams.Node], listing: String,
        _ read: (inout GraphFileReader, Yams.Node) -> (String, T)?
    ) -> [T] {
        guard let list = node.sequence else {
            report(node, "\(kind == "task" ? "tasks" : "watches") is a list of \(listing)")
            return []
        }
        var found: [T] = []
        for item in list {
            guard let (id, entry) = read(&self, item) else { continue }
            if let first = places[id] {
                report(item, "\(kind) id '\(id)' appears twice (first at line \(first.mark?.line ?? 0))")
                continue
            }
            places[id] = item
            found.append(entry)
        }
        return found
    }

    private mutating func watchSet(_ item: Yams.Node, root: String, graph: GraphSpec) -> WatchSetSpec? {
        guard let entry = item.mapping, let id = entry["watch"]?.string else {
            report(item, "a watch set is a mapping starting with 'watch: ID'")
            return nil
        }
        checkKeys(entry, allowed: Self.watchKeys, what: "a watch set")
        guard let paths = strings(entry["paths"], "paths"), !paths.isEmpty else {
            if entry["paths"] == nil { report(item, "watch set '\(id)' needs 'paths' (directories or files)") }
            return nil
        }
        let debounce = integer(entry["debounce"], "debounce", atLeast: 10)
        let maxWait = integer(entry["maxWait"], "maxWait", atLeast: 10)
        if let node = entry["maxWait"], let maxWait, maxWait < (debounce ?? graph.debounce) {
            report(node, "maxWait (\(maxWait) ms) must be at least debounce (\(debounce ?? graph.debounce) ms)")
        }
        return WatchSetSpec(
            id: id, paths: paths.map { Self.resolve($0, from: root) }, ignore: strings(entry["ignore"], "ignore") ?? [],
            debounce: debounce, maxWait: maxWait, poll: integer(entry["poll"], "poll", atLeast: 0) ?? 0)
    }

    private mutating func task(_ item: Yams.Node, root: String, graph: GraphSpec) -> TaskSpec? {
        guard let entry = item.mapping else {
            report(item, "a task is a mapping starting with job:, daemon: or worker:")
            return nil
        }
        let kind: TaskKind
        let id: String
        if let text = entry["job"]?.string {
            (kind, id) = (.job, text)
        } else if let text = entry["daemon"]?.string {
            (kind, id) = (.daemon, text)
        } else if let text = entry["worker"]?.string {
            (kind, id) = (.worker, text)
        } else {
            report(item, "a task starts with job: ID, daemon: ID or worker: ID")
            return nil
        }
        let what = "a \(kind.rawValue)"
        checkKeys(entry, allowed: kind == .job ? Self.jobKeys : kind == .daemon ? Self.daemonKeys : Self.workerKeys, what: what)
        var task = TaskSpec(
            id: id, kind: kind, operation: nil, cwd: root, environment: environment(entry["env"]),
            inputs: strings(entry["inputs"], "inputs") ?? [], outputs: (strings(entry["outputs"], "outputs") ?? []).map { Self.resolve($0, from: root) },
            dependsOn: dependencies(entry["dependsOn"], of: id), auto: flag(entry["auto"], "auto") ?? true,
            onStart: choice(entry["onStart"], "onStart", TaskSpec.OnStart.self) ?? .ifStale,
            onBusy: choice(entry["onBusy"], "onBusy", TaskSpec.OnBusy.self) ?? .queue, lock: entry["lock"]?.string,
            timeout: integer(entry["timeout"], "timeout", atLeast: 1), killAfter: integer(entry["killAfter"], "killAfter", atLeast: 0) ?? 5000,
            retryAttempts: 0, retryBackoff: nil, stdinPipe: false, ready: nil, reload: nil,
            restart: "permanent", backoff: nil, intensity: 5, period: 30, behavior: nil, config: nil)
        if let node = entry["stdin"] {
            switch node.string {
            case "null", "~": task.stdinPipe = false
            case "pipe": task.stdinPipe = true
            default: report(node, "stdin must be null or pipe, not '\(node.string ?? "?")'")
            }
        }
        if kind == .worker {
            if let node = entry["behavior"], let name = node.string {
                if !behaviors.contains(name) {
                    report(node, "unknown behavior '\(name)' for worker \(id) (known: \(behaviors.sorted().joined(separator: ", ")))")
                }
                task.behavior = name
            } else {
                report(item, "worker \(id) needs 'behavior: NAME' (a durable behavior the node knows)")
            }
            task.config = entry["config"].flatMap { try? Yams.serialize(node: $0) }
            return task
        }
        if let node = entry["cwd"] {
            if let text = node.string {
                task.cwd = Self.resolve(text, from: root)
                if !Self.isDirectory(task.cwd) { report(node, "\(kind.rawValue) \(id): cwd '\(text)' is not a directory (\(task.cwd))") }
            } else {
                report(node, "cwd must be a path")
            }
        }
        task.operation = operation(entry, item, kind: kind, id: id, graph: graph, cwd: task.cwd)
        if let node = entry["retry"] {
            if let retry = node.mapping {
                checkKeys(retry, allowed: ["attempts", "backoff"], what: "a retry")
                task.retryAttempts = integer(retry["attempts"], "attempts", atLeast: 0) ?? 0
                task.retryBackoff = retry["backoff"].flatMap { backoff($0) }
            } else {
                report(node, "retry is { attempts: N, backoff: { initial: MS, maximum: MS } }")
            }
        }
        if kind == .daemon {
            task.ready = entry["ready"].flatMap { readiness($0) }
            if let node = entry["reload"] {
                let signals = ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGINT", "SIGTERM", "SIGQUIT", "SIGWINCH"]
                if let name = node.string, signals.contains(name) { task.reload = name } else {
                    report(node, "reload must be a signal (\(signals.joined(separator: ", "))), not '\(node.string ?? "?")'")
                }
            }
            if let node = entry["restart"] {
                if let value = node.string, ["permanent", "transient", "temporary"].contains(value) { task.restart = value } else {
                    report(node, "restart must be permanent, transient or temporary, not '\(node.string ?? "?")'")
                }
            }
            task.backoff = entry["backoff"].flatMap { backoff($0) }
            task.intensity = integer(entry["intensity"], "intensity", atLeast: 0) ?? 5
            task.period = integer(entry["period"], "period", atLeast: 1) ?? 30
        }
        return task
    }

    private mutating func operation(_ entry: Yams.Node.Mapping, _ item: Yams.Node, kind: TaskKind, id: String, graph: GraphSpec, cwd: String) -> TaskOperation? {
        let given = ["command", "shell", "script"].filter { entry[$0] != nil }
        guard given.count == 1 else {
            report(item, "\(kind.rawValue) \(id) needs exactly one of command, shell, script\(given.isEmpty ? "" : " (it has \(given.joined(separator: " and ")))")")
            return nil
        }
        if let node = entry["interpreter"], entry["script"] == nil { report(node, "interpreter goes with script, not \(given[0])") }
        switch given[0] {
        case "command":
            guard let node = entry["command"], let argv = strings(node, "command") else { return nil }
            guard let program = argv.first else {
                report(node, "command must name a program")
                return nil
            }
            checkProgram(program, at: node, what: "\(kind.rawValue) \(id)", root: cwd)
            return .command(argv)
        case "shell":
            guard let node = entry["shell"], let text = node.string else {
                if let node = entry["shell"] { report(node, "shell is a string, run by the graph's shell (\(graph.shell.joined(separator: " ")))") }
                return nil
            }
            return .shell(text)
        default:
            guard let node = entry["script"], let text = node.string else {
                if let node = entry["script"] { report(node, "script is the script's text") }
                return nil
            }
            guard let interpreterNode = entry["interpreter"] else {
                report(node, "\(kind.rawValue) \(id): a script needs 'interpreter' (such as [python3] or [bash])")
                return nil
            }
            guard let interpreter = strings(interpreterNode, "interpreter"), let program = interpreter.first else {
                report(interpreterNode, "interpreter must name a program")
                return nil
            }
            checkProgram(program, at: interpreterNode, what: "\(kind.rawValue) \(id)", root: cwd)
            return .script(text, interpreter: interpreter)
        }
    }

    private mutating func dependencies(_ node: Yams.Node?, of id: String) -> [TaskDependency] {
        guard let node else { return [] }
        var edges: [TaskDependency] = []
        var places: [String: Yams.Node] = [:]
        if let list = node.sequence {
            for item in list {
                guard let name = item.string else {
                    report(item, "a dependsOn list names tasks")
                    continue
                }
                // The condition is the upstream's default, settled once kinds are known.
                edges.append(TaskDependency(task: name, condition: .succeeded, cutoffOnOutputs: false, cascade: false))
                places[name] = item
                implicitConditions.insert([id, name])
            }
        } else if let mapping = node.mapping {
            for (key, value) in mapping {
                guard let name = key.string else { continue }
                places[name] = key
                if let text = value.string {
                    guard let condition = DependencyCondition(rawValue: text) else {
                        report(value, "unknown condition '\(text)' (conditions: \(DependencyCondition.allCases.map(\.rawValue).joined(separator: ", ")))")
                        continue
                    }
                    edges.append(TaskDependency(task: name, condition: condition, cutoffOnOutputs: false, cascade: false))
                } else if let detail = value.mapping {
                    checkKeys(detail, allowed: ["condition", "cutoff", "cascade"], what: "a dependency")
                    let condition = choice(detail["condition"], "condition", DependencyCondition.self) ?? .succeeded
                    if detail["condition"] == nil { implicitConditions.insert([id, name]) }
                    var cutoff = false
                    if let node = detail["cutoff"] {
                        if node.string == "outputs" { cutoff = true } else { report(node, "cutoff must be outputs, not '\(node.string ?? "?")'") }
                    }
                    edges.append(TaskDependency(task: name, condition: condition, cutoffOnOutputs: cutoff, cascade: flag(detail["cascade"], "cascade") ?? false))
                } else {
                    report(value, "a dependency is a condition or { condition: C, cutoff: outputs, cascade: BOOL }")
                }
            }
        } else {
            report(node, "dependsOn is a list of tasks or a mapping of tasks to conditions")
        }
        edgePlaces[id] = places
        return edges
    }

    /// Edges (task, upstream) with no condition given: each takes its upstream's default.
    private var implicitConditions: Set<[String]> = []

    private mutating func readiness(_ node: Yams.Node) -> ReadinessSpec? {
        guard let mapping = node.mapping else {
            report(node, "ready is one of { line: REGEX }, { tcp: PORT }, { http: URL }, { exec: [ARGV] }, { delay: MS }")
            return nil
        }
        checkKeys(mapping, allowed: ["line", "tcp", "http", "exec", "delay", "interval", "timeout"], what: "a readiness check")
        let probes = ["line", "tcp", "http", "exec", "delay"].filter { mapping[$0] != nil }
        guard probes.count == 1 else {
            report(node, "ready needs exactly one of line, tcp, http, exec, delay")
            return nil
        }
        let probe: ReadinessProbe?
        switch probes[0] {
        case "line": probe = mapping["line"]?.string.map(ReadinessProbe.line)
        case "tcp": probe = integer(mapping["tcp"], "tcp", atLeast: 1).map(ReadinessProbe.tcp)
        case "http":
            let url = mapping["http"]?.string
            if let url, !url.hasPrefix("http://") { report(node, "ready http must be an http:// URL, not '\(url)'") }
            probe = url.map(ReadinessProbe.http)
        case "exec": probe = strings(mapping["exec"], "exec").map(ReadinessProbe.exec)
        default: probe = integer(mapping["delay"], "delay", atLeast: 0).map(ReadinessProbe.delay)
        }
        guard let probe else { return nil }
        return ReadinessSpec(probe: probe, interval: integer(mapping["interval"], "interval", atLeast: 10) ?? 250,
                             timeout: integer(mapping["timeout"], "timeout", atLeast: 1) ?? 30_000)
    }

    private mutating func backoff(_ node: Yams.Node) -> BackoffSpec? {
        guard let mapping = node.mapping, let initial = integer(mapping["initial"], "initial", atLeast: 1),
              let maximum = integer(mapping["maximum"], "maximum", atLeast: 1) else {
            if node.mapping == nil || node.mapping?["initial"] == nil || node.mapping?["maximum"] == nil {
                report(node, "backoff is { initial: MS, maximum: MS }")
            }
            return nil
        }
        checkKeys(mapping, allowed: ["initial", "maximum"], what: "a backoff")
        if maximum < initial { report(node, "backoff maximum (\(maximum) ms) must be at least its initial (\(initial) ms)") }
        return BackoffSpec(initial: initial, maximum: maximum)
    }

    // MARK: The whole graph

    /// Inputs name watch sets, dependencies name tasks of a kind the condition fits.
    private mutating func checkReferences(_ spec: GraphSpec, watchPlaces: [String: Yams.Node]) {
        let tasks = Dictionary(spec.tasks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let taskNames = spec.tasks.map(\.id).sorted()
        let watchNames = spec.watches.map(\.id).sorted()
        for task in spec.tasks {
            let item = taskPlaces[task.id]
            for input in task.inputs where watchPlaces[input] == nil {
                let node = item?.mapping?["inputs"]?.sequence?.first { $0.string == input } ?? item
                report(node, "\(task.kind.rawValue) \(task.id) takes input '\(input)', which is not a watch set\(Self.suggestion(input, among: watchNames, called: "watch sets"))")
            }
            for edge in task.dependsOn {
                let node = edgePlaces[task.id]?[edge.task] ?? item
                guard let upstream = tasks[edge.task] else {
                    report(node, "task \(task.id) depends on '\(edge.task)', which is not a task\(Self.suggestion(edge.task, among: taskNames, called: "tasks"))")
                    continue
                }
                if upstream.kind == .worker {
                    report(node, "'\(upstream.id)' is a worker: nothing can wait for it")
                    continue
                }
                let fits = DependencyCondition.applying(to: upstream.kind)
                if !fits.contains(edge.condition) {
                    report(node, "'\(upstream.id)' is a \(upstream.kind.rawValue); use \(Self.either(fits.map(\.rawValue))), not \(edge.condition.rawValue)")
                }
                if edge.cutoffOnOutputs, edge.condition != .succeeded {
                    report(node, "cutoff: outputs goes with succeeded, not \(edge.condition.rawValue)")
                }
            }
        }
    }

    /// A task whose outputs lie in one of its own input sets: accepted (outputs are never watched), said.
    private mutating func noteOutputsInInputs(_ spec: GraphSpec) {
        let watches = Dictionary(spec.watches.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for task in spec.tasks {
            for input in task.inputs {
                guard let watch = watches[input] else { continue }
                for output in task.outputs {
                    guard let path = watch.paths.first(where: { output == $0 || output.hasPrefix($0 + "/") }) else { continue }
                    let node = taskPlaces[task.id]?.mapping?["outputs"] ?? taskPlaces[task.id]
                    let place = node?.mark.map { "\(self.path):\($0.line):\($0.column)" } ?? self.path
                    notes.append("\(place): \(task.kind.rawValue) \(task.id) writes \(output), inside its input '\(input)' (\(path)): outputs are never watched, so it is left out of that set")
                }
            }
        }
    }

    /// Every cycle of dependsOn, each with its whole path and each edge's place (Tarjan's strongly connected components).
    private mutating func checkCycles(_ spec: GraphSpec) {
        let names = spec.tasks.map(\.id)
        let known = Set(names)
        var successors: [String: [String]] = [:]
        for task in spec.tasks { successors[task.id] = task.dependsOn.map(\.task).filter { known.contains($0) } }
        for component in StronglyConnected.components(of: names, successors: { successors[$0] ?? [] }) {
            let members = Set(component)
            guard members.count > 1 || (successors[component[0]] ?? []).contains(component[0]) else { continue }
            // A path through the component from its first task (in file order) back to it.
            let start = names.first { members.contains($0) } ?? component[0]
            let path = StronglyConnected.cycle(from: start, within: members, successors: { successors[$0] ?? [] })
            let places = zip(path, path.dropFirst()).map { from, to in
                "\(from) → \(to) at line \(edgePlaces[from]?[to]?.mark?.line ?? 0)"
            }
            let node = edgePlaces[start]?[path.count > 1 ? path[1] : start] ?? taskPlaces[start]
            report(node, "dependsOn forms a cycle: \(path.joined(separator: " → ")) (\(places.joined(separator: "; ")))")
        }
    }

    // MARK: Values

    private mutating func checkKeys(_ mapping: Yams.Node.Mapping, allowed: [String], what: String) {
        for (key, _) in mapping where !allowed.contains(key.string ?? "") {
            report(key, "unknown key '\(key.string ?? "?")' for \(what) (expected: \(allowed.joined(separator: ", ")))")
        }
    }

    private mutating func integer(_ node: Yams.Node?, _ key: String, atLeast minimum: Int) -> Int? {
        guard let node else { return nil }
        guard let value = node.int, value >= minimum else {
            report(node, "\(key) must be a whole number of at least \(minimum), not '\(node.string ?? "?")'")
            return nil
        }
        return value
    }

    private mutating func flag(_ node: Yams.Node?, _ key: String) -> Bool? {
        guard let node else { return nil }
        guard let value = node.bool else {
            report(node, "\(key) must be true or false, not '\(node.string ?? "?")'")
            return nil
        }
        return value
    }

    private mutating func strings(_ node: Yams.Node?, _ key: String) -> [String]? {
        guard let node else { return nil }
        guard let list = node.sequence, list.allSatisfy({ $0.string != nil && $0.mapping == nil && $0.sequence == nil }) else {
            report(node, "\(key) must be a list of strings")
            return nil
        }
        return list.compactMap(\.string)
    }

    private mutating func choice<T: RawRepresentable & CaseIterable>(_ node: Yams.Node?, _ key: String, _ type: T.Type) -> T? where T.RawValue == String {
        guard let node else { return nil }
        guard let value = node.string.flatMap(T.init(rawValue:)) else {
            let options = T.allCases.map(\.rawValue)
            report(node, "\(key) must be \(Self.either(options)), not '\(node.string ?? "?")'")
            return nil
        }
        return value
    }

    private mutating func environment(_ node: Yams.Node?) -> [String: String] {
        guard let node else { return [:] }
        guard let pairs = node.mapping else {
            report(node, "env must be a mapping of names to values")
            return [:]
        }
        var environment: [String: String] = [:]
        for (key, value) in pairs {
            guard let name = key.string, let text = value.string, value.mapping == nil, value.sequence == nil else {
                report(key, "env entries are NAME: value")
                continue
            }
            environment[name] = text
        }
        return environment
    }

    /// A program named without a slash must be in PATH; one with a slash may be built by a job, so it is not looked for.
    private mutating func checkProgram(_ program: String, at node: Yams.Node, what: String, root: String) {
        guard !program.contains("/") else { return }
        let directories = searchPath.split(separator: ":").map(String.init)
        if directories.contains(where: { access($0 + "/" + program, X_OK) == 0 }) { return }
        report(node, "\(what): '\(program)' is not in PATH (\(searchPath))")
    }

    private mutating func report(_ node: Yams.Node?, _ text: String) {
        let place = node?.mark.map { "\(path):\($0.line):\($0.column)" } ?? path
        problems.append(GraphFileProblem(description: "\(place): \(text)"))
    }

    // MARK: Names and paths

    /// " (did you mean 'x'? tasks: a, b, c)", or the list alone when nothing is close.
    static func suggestion(_ name: String, among known: [String], called: String) -> String {
        let listed = known.isEmpty ? "there are no \(called)" : "\(called): \(known.joined(separator: ", "))"
        guard let closest = ClosestName.to(name, among: known) else { return " (\(listed))" }
        return " (did you mean '\(closest)'? \(listed))"
    }

    static func either(_ options: [String]) -> String {
        guard options.count > 1 else { return options.first ?? "" }
        return options.dropLast().joined(separator: ", ") + " or " + options[options.count - 1]
    }

    static func directory(of path: String) -> String {
        let absolute = resolve(path, from: currentDirectory())
        guard let slash = absolute.lastIndex(of: "/") else { return "." }
        return slash == absolute.startIndex ? "/" : String(absolute[..<slash])
    }

    static func resolve(_ path: String, from base: String) -> String {
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        var parts: [Substring] = []
        for part in joined.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { _ = parts.popLast(); continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}

extension GraphFile {
    /// Whether `text` is a graph file (a top-level `graph:` key), not a tree file.
    public static func declaresGraph(_ text: String) -> Bool {
        text.split(separator: "\n").contains { $0.hasPrefix("graph:") }
    }
}
