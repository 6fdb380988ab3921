import Calf
import CalfFlows
import CalfGraphs
import Yams

/// A tree file of `Supervisors/`: one supervision tree, read with Yams and
/// checked whole (keys, values, behaviors) before anything starts.
///
/// ```yaml
/// supervisor: bank          # the root's id
/// strategy: oneForOne       # oneForOne | oneForAll | restForOne
/// intensity: 10             # restarts allowed ...
/// period: 5                 # ... within this many seconds
/// durable: true             # journal restarts and dynamic children (default false)
/// children:
///   - worker: teller        # a worker: id and registered name
///     behavior: Teller      # a behavior the node knows (durable or transient)
///     config: {}            # the behavior's own fields
///     restart: permanent    # permanent | transient | temporary
///     shutdown: 5000        # milliseconds | brutalKill | infinity
///     backoff: { initial: 100, maximum: 5000 }   # milliseconds
///     mode: replay          # a durable worker's restart: replay | fresh
///   - supervisor: inner     # a nested supervisor, same keys as the root
///     children: [...]
///   - supervisor: pool      # dynamic children of one template
///     strategy: simpleOneForOne
///     template: { worker: tally, behavior: Tally, config: { start: 0 } }
///     start: 4              # children started at first boot (with the template's config)
///   - graph: dev            # a graph of jobs and daemons (the keys of a graph file; Supervisors/README.md)
///     watches: [...]
///     tasks: [...]
///   - port: ticker          # an external command
///     command: [/bin/sh, -c, "while true; do echo tick; sleep 1; done"]
///     cwd: /tmp
///     env: { LANG: C }
///     framing: lines        # lines | lengthPrefixed
///     owner: counter        # a registered process taking PortOutput
///     killAfter: 2000       # milliseconds between SIGTERM and SIGKILL
/// ```
struct TreeFile {
    /// A problem with a tree file, with its place.
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    let path: String
    /// The node's data directory (a graph's logs go under it).
    let dataDirectory: String
    let durable: [String: any DurableBehavior.Type]
    /// The behaviors a graph entry's `worker:` tasks may name.
    let workers: [String: any GraphWorker.Type]
    let transient: [String: any ConfiguredBehavior.Type]
    /// The root supervisor, ready to start.
    private(set) var root: SupervisorSpec!
    /// Its `- graph: ID` entries, read and checked: each one's process is a
    /// child of the tree; the node runs a graph host for each once the tree is up.
    var graphs: [GraphFile] { found.graphs }
    private let found = FoundGraphs()

    /// Reads and checks `path` against the behaviors the node knows.
    init(path: String, text: String, behaviors: BehaviorRegistry, dataDirectory: String) throws {
        self.path = path
        self.dataDirectory = dataDirectory
        var durable: [String: any DurableBehavior.Type] = [:]
        // A flow's process is started by startFlow or HTTP, never by a tree file.
        // A graph's process and its workers are started by a `graph:` entry, never as a tree's workers.
        for type in behaviors.durable where !(type is any FlowProcessKind.Type) && type != GraphProcess.self && !(type is any GraphWorker.Type) {
            durable[type.behaviorName] = type
        }
        var transient: [String: any ConfiguredBehavior.Type] = [:]
        for type in behaviors.transient { transient[type.behaviorName] = type }
        self.durable = durable
        workers = GraphFile.workers(behaviors.durable)
        self.transient = transient
        let document: Yams.Node?
        do {
            document = try Yams.compose(yaml: text)
        } catch {
            throw Problem(description: "\(path): not YAML: \(error)")
        }
        guard let document, let top = document.mapping else {
            throw Problem(description: "\(path): expected a mapping with 'supervisor', 'strategy' and 'children'")
        }
        guard let id = top["supervisor"]?.string else {
            throw Problem(description: "\(place(document)): the root needs 'supervisor: ID'")
        }
        root = try supervisor(id, top, document)
    }

    private func place(_ node: Yams.Node) -> String {
        node.mark.map { "\(path):\($0.line):\($0.column)" } ?? path
    }

    private func problem(_ node: Yams.Node, _ text: String) -> Problem {
        Problem(description: "\(place(node)): \(text)")
    }

    private func checkKeys(_ mapping: Yams.Node.Mapping, allowed: [String], what: String) throws {
        for (key, _) in mapping where !allowed.contains(key.string ?? "") {
            throw problem(key, "unknown key '\(key.string ?? "?")' for \(what) (expected: \(allowed.joined(separator: ", ")))")
        }
    }

    private func supervisor(_ id: String, _ mapping: Yams.Node.Mapping, _ node: Yams.Node) throws -> SupervisorSpec {
        try checkKeys(mapping, allowed: ["supervisor", "strategy", "intensity", "period", "durable", "children", "template", "start", "restart"], what: "a supervisor")
        var strategy = RestartStrategy.oneForOne
        if let value = mapping["strategy"] {
            guard let parsed = value.string.flatMap(RestartStrategy.init(rawValue:)) else {
                throw problem(value, "strategy must be oneForOne, oneForAll, restForOne or simpleOneForOne, not '\(value.string ?? "?")'")
            }
            strategy = parsed
        }
        let intensity = try mapping["intensity"].map { try integer($0, "intensity", atLeast: 0) } ?? 1
        let period = try mapping["period"].map { try integer($0, "period", atLeast: 1) } ?? 5
        var isDurable = false
        if let value = mapping["durable"] {
            guard let flag = value.bool else { throw problem(value, "durable must be true or false, not '\(value.string ?? "?")'") }
            isDurable = flag
        }
        if strategy == .simpleOneForOne {
            if let children = mapping["children"] { throw problem(children, "a simpleOneForOne supervisor has a 'template', not 'children'") }
            guard let templateNode = mapping["template"] else { throw problem(node, "simpleOneForOne supervisor '\(id)' needs a 'template' (a worker)") }
            let (template, arguments) = try self.template(templateNode)
            let count = try mapping["start"].map { try integer($0, "start", atLeast: 0) } ?? 0
            var spec = SupervisorSpec(id, strategy: strategy, intensity: intensity, period: .seconds(period), durable: isDurable, children: [template])
            spec.startWith = Array(repeating: arguments, count: count)
            return spec
        }
        for key in ["template", "start"] {
            if let value = mapping[key] { throw problem(value, "'\(key)' belongs to a simpleOneForOne supervisor") }
        }
        guard let list = mapping["children"]?.sequence else { throw problem(node, "supervisor '\(id)' needs a 'children' list") }
        var children: [ChildSpec] = []
        var ids: Set<String> = []
        for item in list {
            let child = try self.child(item)
            guard ids.insert(child.id).inserted else { throw problem(item, "child id '\(child.id)' appears twice in supervisor '\(id)'") }
            children.append(child)
        }
        return SupervisorSpec(id, strategy: strategy, intensity: intensity, period: .seconds(period), durable: isDurable, children: children)
    }

    private func integer(_ node: Yams.Node, _ key: String, atLeast minimum: Int) throws -> Int {
        guard let value = node.int, value >= minimum else { throw problem(node, "\(key) must be a whole number of at least \(minimum), not '\(node.string ?? "?")'") }
        return value
    }

    private func child(_ item: Yams.Node) throws -> ChildSpec {
        guard let entry = item.mapping else { throw problem(item, "a child is a mapping starting with worker:, supervisor:, port: or graph:") }
        if let id = entry["graph"]?.string {
            return try graph(id, item)
        }
        let restart = try entry["restart"].map { node -> ChildRestart in
            guard let value = node.string.flatMap(ChildRestart.init(rawValue:)) else {
                throw problem(node, "restart must be permanent, transient or temporary, not '\(node.string ?? "?")'")
            }
            return value
        } ?? .permanent
        if let id = entry["supervisor"]?.string {
            return .supervisor(try supervisor(id, entry, item), restart: restart)
        }
        let backoff = try entry["backoff"].map(backoff)
        if entry["worker"] != nil {
            return try worker(item, entry, restart: restart, backoff: backoff, template: false).spec
        }
        if let id = entry["port"]?.string {
            try checkKeys(entry, allowed: ["port", "command", "cwd", "env", "framing", "owner", "killAfter", "restart", "backoff"], what: "a port")
            guard let command = entry["command"]?.sequence?.compactMap(\.string), !command.isEmpty,
                  command.count == entry["command"]?.sequence?.count else {
                throw problem(item, "port '\(id)' needs a command: a list of strings")
            }
            var environment: [String: String] = [:]
            if let env = entry["env"] {
                guard let pairs = env.mapping else { throw problem(env, "env must be a mapping of names to values") }
                for (key, value) in pairs {
                    guard let name = key.string, let text = value.string else { throw problem(key, "env entries are name: value") }
                    environment[name] = text
                }
            }
            var framing = PortFraming.lines
            if let node = entry["framing"] {
                guard let value = node.string.flatMap(PortFraming.init(rawValue:)) else { throw problem(node, "framing must be lines or lengthPrefixed") }
                framing = value
            }
            let killAfter = try entry["killAfter"].map { try integer($0, "killAfter", atLeast: 0) } ?? 5000
            let spec = PortSpec(
                command: command, workingDirectory: entry["cwd"]?.string, environment: environment, framing: framing,
                owner: entry["owner"]?.string.map(PortOwner.named), killAfter: .milliseconds(killAfter))
            return .port(id, spec, restart: restart, backoff: backoff)
        }
        throw problem(item, "a child starts with worker: ID, supervisor: ID, port: ID or graph: ID")
    }

    /// A `- graph: ID` entry: checked whole as a graph file is; its child is
    /// the graph's supervisor (`GraphSpec.supervisor`: its process `ID/graph` and its workers).
    private func graph(_ id: String, _ item: Yams.Node) throws -> ChildSpec {
        let graph: GraphFile
        do throws(GraphFileProblems) {
            graph = try GraphFile(path: path, entry: item, behaviors: Set(workers.keys))
        } catch {
            throw Problem(description: error.description)
        }
        guard !found.graphs.contains(where: { $0.spec.id == id }) else { throw problem(item, "graph '\(id)' appears twice in the tree") }
        found.graphs.append(graph)
        do {
            return .supervisor(try graph.spec.supervisor(dataDirectory: dataDirectory, workers: workers))
        } catch {
            throw problem(item, "\(error)")
        }
    }

    private func shutdown(_ node: Yams.Node) throws -> ChildShutdown {
        switch node.string {
        case "brutalKill": return .brutalKill
        case "infinity": return .infinity
        default:
            guard let milliseconds = node.int, milliseconds >= 0 else {
                throw problem(node, "shutdown must be milliseconds, brutalKill or infinity, not '\(node.string ?? "?")'")
            }
            return .timeout(.milliseconds(milliseconds))
        }
    }

    private func backoff(_ node: Yams.Node) throws -> Backoff {
        guard let mapping = node.mapping else { throw problem(node, "backoff is { initial: MS, maximum: MS }") }
        try checkKeys(mapping, allowed: ["initial", "maximum", "multiplier"], what: "a backoff")
        guard let initial = mapping["initial"], let maximum = mapping["maximum"] else { throw problem(node, "backoff needs initial and maximum (milliseconds)") }
        var multiplier = 2.0
        if let node = mapping["multiplier"] {
            guard let value = node.float, value.isFinite, value >= 1, value <= 1000 else {
                throw problem(node, "multiplier must be a number from 1 to 1000, not '\(node.string ?? "?")'")
            }
            multiplier = value
        }
        return Backoff(initial: .milliseconds(try integer(initial, "initial", atLeast: 1)),
                       maximum: .milliseconds(try integer(maximum, "maximum", atLeast: 1)), multiplier: multiplier)
    }

    /// A `worker:` entry: a durable or transient behavior the node knows,
    /// its config decoded now; for a template, also the arguments its
    /// dynamic children start with (the configured behavior).
    private func worker(
        _ item: Yams.Node, _ entry: Yams.Node.Mapping, restart: ChildRestart, backoff: Backoff?, template: Bool
    ) throws -> (spec: ChildSpec, arguments: any Sendable) {
        try checkKeys(entry, allowed: ["worker", "behavior", "config", "restart", "shutdown", "backoff", "mode"], what: "a worker")
        guard let id = entry["worker"]?.string else { throw problem(item, "a worker needs an id: worker: ID") }
        guard let behaviorNode = entry["behavior"], let name = behaviorNode.string else { throw problem(item, "worker '\(id)' needs a behavior") }
        let shutdown = try entry["shutdown"].map(shutdown) ?? .timeout(.seconds(5))
        var mode = RestartMode.replay
        if let node = entry["mode"] {
            guard let value = node.string.flatMap(RestartMode.init(rawValue:)) else { throw problem(node, "mode must be replay or fresh, not '\(node.string ?? "?")'") }
            mode = value
        }
        let config = entry["config"] ?? .mapping([:])
        let made: (spec: ChildSpec, arguments: any Sendable)
        if let type = durable[name] {
            made = try durableWorker(type, id: id, config: config, place: place(item), restart: restart, shutdown: shutdown, mode: mode, template: template)
        } else if let type = transient[name] {
            if let node = entry["mode"] { throw problem(node, "mode is for durable workers; '\(name)' is transient (always fresh)") }
            made = try transientWorker(type, id: id, config: config, place: place(item), restart: restart, shutdown: shutdown, template: template)
        } else {
            let known = (Array(durable.keys) + Array(transient.keys)).sorted().joined(separator: ", ")
            throw problem(behaviorNode, "unknown behavior '\(name)' (known: \(known))")
        }
        var spec = made.spec
        spec.backoff = backoff
        return (spec, made.arguments)
    }

    private func template(_ node: Yams.Node) throws -> (ChildSpec, any Sendable) {
        guard let entry = node.mapping, entry["worker"] != nil else { throw problem(node, "a template is a worker: { worker: ID, behavior: NAME, config: {...} }") }
        let restart = try entry["restart"].map { node -> ChildRestart in
            guard let value = node.string.flatMap(ChildRestart.init(rawValue:)) else {
                throw problem(node, "restart must be permanent, transient or temporary, not '\(node.string ?? "?")'")
            }
            return value
        } ?? .permanent
        return try worker(node, entry, restart: restart, backoff: try entry["backoff"].map(backoff), template: true)
    }

    private func decode<B: Decodable>(_ type: B.Type, _ name: String, config: Yams.Node, place: String) throws -> B {
        do {
            return try YAMLDecoder().decode(B.self, from: config)
        } catch {
            throw Problem(description: "\(place): bad config for \(name): \(error)")
        }
    }

    private func durableWorker<B: DurableBehavior>(
        _ type: B.Type, id: String, config: Yams.Node, place: String, restart: ChildRestart, shutdown: ChildShutdown,
        mode: RestartMode, template: Bool
    ) throws -> (spec: ChildSpec, arguments: any Sendable) {
        let behavior = try decode(B.self, B.behaviorName, config: config, place: place)
        if template { return (.durableTemplate(id, B.self, restart: restart, shutdown: shutdown, mode: mode), behavior) }
        return (.durable(id, behavior, restart: restart, shutdown: shutdown, mode: mode), behavior)
    }

    private func transientWorker<B: ConfiguredBehavior>(
        _ type: B.Type, id: String, config: Yams.Node, place: String, restart: ChildRestart, shutdown: ChildShutdown, template: Bool
    ) throws -> (spec: ChildSpec, arguments: any Sendable) {
        let behavior = try decode(B.self, B.behaviorName, config: config, place: place)
        if template { return (.template(id, restart: restart, shutdown: shutdown) { (configured: B) in configured }, behavior) }
        let spec = ChildSpec(id: id, restart: restart, shutdown: shutdown, behavior: B.behaviorName) { context in
            .started(ChildProcess(try context.spawn(behavior, registeredAs: id)))
        }
        return (spec, behavior)
    }
}

/// The graphs a tree file's reading found (its functions do not mutate it).
///
/// Thread ownership: the thread reading the file; read after it is read.
private final class FoundGraphs: @unchecked Sendable {
    var graphs: [GraphFile] = []
}
