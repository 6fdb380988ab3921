import ArgumentParser
import Calf
import CalfFlows
import CalfConnectors
import CalfGraphs
import CalfHTTP
import CalfOperator
import CalfStore
import Foundation
import Logging
import ServiceLifecycle

/// `calf node`: runs a node in the foreground on a data directory.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a node on a data directory, booting a tree from Supervisors/.",
        discussion: "Prints 'calf node ready socket=DIR/node.sock root=PID' (and ' http=http://HOST:PORT' with --http) once it accepts connections; SIGTERM or SIGINT stop it in order (a swift-service-lifecycle ServiceGroup: the HTTP API and the control server, then the node)."
    )

    @Option(name: .long, help: "The data directory (created if missing).")
    var data: String

    @Option(name: .long, help: "fsync (survives a power cut) or process (survives kill -9 of the node).")
    var durability: String = "fsync"

    @Option(name: .long, help: "Milliseconds between checkpoint rounds (every changed process snapshotted).")
    var checkpointInterval: Int = 5000

    @Option(name: .long, help: "Seconds of journal history kept after no process needs it.")
    var history: Int = 3600

    @Option(name: .long, help: "Seconds an idempotency key is remembered after its message was accepted (a resend within it is a duplicate).")
    var keyRetention: Int = 24 * 3600

    @Option(name: .long, help: "Scheduler threads (default: one per core).")
    var schedulers: Int = Calf.Node.coreCount

    @Option(name: .long, help: "Serve the HTTP API on HOST:PORT (off by default; 127.0.0.1:0 picks a port).")
    var http: String?

    @Option(name: .long, help: "The file of the HTTP API's bearer token (default DIR/http.token, made at first start, mode 0600).")
    var tokenFile: String?

    @Option(name: .long, help: "Seconds an HTTP connection may send nothing before it is closed (a stalled or idle client).")
    var httpIdleTimeout: Double = 30

    @Option(name: .long, help: "What callback URLs start with, as the services that call back reach this node (default: the --http address).")
    var publicURL: String?

    @Option(name: .long, help: "A host HTTP requests from handlers may go to (HOST, HOST:PORT, *.DOMAIN or *); repeat it for more. None: no requests leave.")
    var allowHost: [String] = []

    @Option(name: .long, help: "Messages from outside a durable process takes before it has handled them; past it they are refused overloaded (HTTP 429 with Retry-After). A behavior's mailboxLimit overrides it.")
    var mailboxLimit: Int = 10_000

    @Option(name: .long, help: "Messages from outside that wait for the journal's next commit at most; past it they are refused overloaded.")
    var writerQueueLimit: Int = 100_000

    @Option(name: .long, help: "Seconds a durable process may sit idle before it leaves RAM (its snapshot written; the next mail or due timer brings it back). A behavior's passivateAfter overrides it. Default: never.")
    var passivateAfter: Double?

    @Argument(help: "The tree file to boot, e.g. Supervisors/bank.yaml.")
    var tree: String


    func run() async throws {
        guard let level = StoreEnvironment.Durability(rawValue: durability) else {
            throw ValidationError("--durability must be fsync or process, not '\(durability)'")
        }
        let text: String
        do {
            text = try String(contentsOfFile: tree, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read the tree file \(tree): \(error.localizedDescription)")
        }
        let registry = registeredBehaviors.withLock { $0 }
        // A graph file (its root is `graph: ID`) runs a graph; any other is a tree of supervisors.
        var graph: GraphFile?
        var file: TreeFile?
        if GraphFile.declaresGraph(text) {
            do throws(GraphFileProblems) {
                graph = try GraphFile(path: tree, text: text, behaviors: Set(GraphFile.workers(registry.durable).keys))
            } catch {
                FileHandle.standardError.write(Data("calf node: the graph file \(tree) does not check; nothing started:\n\(error.description)\n".utf8))
                throw ExitCode(1)
            }
        } else {
            file = try TreeFile(path: tree, text: text, behaviors: registry, dataDirectory: data)
        }

        guard checkpointInterval > 0, history >= 0, keyRetention > 0 else {
            throw ValidationError("--checkpoint-interval and --key-retention must be positive and --history not negative")
        }
        guard (1...1024).contains(schedulers) else {
            throw ValidationError("--schedulers must be between 1 and 1024, not \(schedulers)")
        }
        guard httpIdleTimeout > 0, httpIdleTimeout <= 86_400 else {
            throw ValidationError("--http-idle-timeout must be between 0 and 86400 seconds, not \(httpIdleTimeout)")
        }
        guard mailboxLimit > 0, writerQueueLimit > 0 else {
            throw ValidationError("--mailbox-limit and --writer-queue-limit must be positive")
        }
        if let passivateAfter, !(passivateAfter > 0 && passivateAfter <= 1e9) {
            throw ValidationError("--passivate-after must be a positive number of seconds, not \(passivateAfter)")
        }
        let httpAddress: (host: String, port: Int)?
        do {
            httpAddress = try http.map(HTTPAPI.address)
        } catch {
            throw ValidationError(error.description)
        }
        if let publicURL {
            guard publicURL.hasPrefix("http://") || publicURL.hasPrefix("https://"), !publicURL.hasSuffix("/") else {
                throw ValidationError("--public-url wants http://HOST[:PORT][/PATH] or https://…, without a trailing '/', not '\(publicURL)'")
            }
        }
        var options = DurableOptions(
            path: data, durability: level, behaviors: registry.durable,
            checkpointInterval: .milliseconds(checkpointInterval), history: .seconds(history),
            keyRetention: .seconds(keyRetention))
        options.mailboxLimit = mailboxLimit
        options.writerQueueLimit = writerQueueLimit
        options.passivateAfter = passivateAfter.map { .milliseconds(Int64(($0 * 1000).rounded(.up))) }
        // The request connector: HTTP requests from handlers (HTTPCall effects) go through it.
        let connector = HTTPConnector(configuration: HTTPConnector.Configuration(allowedHosts: HostAllowList(allowHost)))
        defer { Task.detached { try? await connector.shutdown() } }
        options.services[HTTPConnector.self] = connector
        options.effects.append(HTTPCall.self)
        // A graph's runs (TaskRunEffect) start their commands through the runner.
        let runner: GraphRunner? = graph != nil || file?.graphs.isEmpty == false ? try GraphRunner() : nil
        options.services[GraphRunner.self] = runner
        defer { runner?.shutdown() }
        // Callback URLs start with --public-url, else the --http address (once bound, for port 0).
        if let publicURL {
            options.callbackBase = publicURL
        } else if let httpAddress, httpAddress.port != 0 {
            let host = httpAddress.host.contains(":") ? "[\(httpAddress.host)]" : httpAddress.host
            options.callbackBase = "http://\(host):\(httpAddress.port)"
        }
        // With the HTTP API, the node's figures go to the registry /metrics reads.
        let metrics = httpAddress.map { _ in HTTPAPI.makeMetrics() }
        let node = try await Calf.Node.open(schedulers: schedulers, durable: options, metrics: metrics?.metricsFactory)
        if let report = node.recoveryReport {
            for (pid, reason) in report.quarantined.sorted(by: { $0.key < $1.key }) {
                FileHandle.standardError.write(Data("calf: \(pid) quarantined: \(reason)\n".utf8))
            }
            for problem in report.unattributed {
                FileHandle.standardError.write(Data("calf: unreadable journal record: \(problem)\n".utf8))
            }
        }
        let rootPid: Pid
        var hosts: [GraphHost] = []
        do {
            let workers = GraphFile.workers(registry.durable)
            let behaviors = Set(workers.keys)
            if let graph {
                // The root is the graph's supervisor (its process and workers); the host watches and starts it.
                rootPid = try await node.startSupervisor(try graph.spec.supervisor(dataDirectory: data, workers: workers)).pid
                hosts.append(try await GraphHost(spec: graph.spec, version: graph.version, file: tree,
                                                 behaviors: behaviors, workers: workers, node: node, runner: runner))
            } else if let file {
                rootPid = try await node.startSupervisor(file.root).pid
                // Each `- graph:` entry's process is up with the tree; its host watches and starts it.
                for graph in file.graphs {
                    hosts.append(try await GraphHost(spec: graph.spec, version: graph.version, file: tree, inTree: true,
                                                     behaviors: behaviors, workers: workers, node: node, runner: runner))
                }
            } else {
                // invariant: the file was read as a graph or as a tree above.
                preconditionFailure("no graph and no tree")
            }
        } catch {
            try await node.shutdown()
            // Not a usage error: said without the usage text.
            FileHandle.standardError.write(Data("calf node: the \(graph == nil ? "tree" : "graph") \(tree) did not start: \(error)\n".utf8))
            throw ExitCode(1)
        }
        defer { for host in hosts { host.stop() } }
        let socketPath = data + "/node.sock"
        let server: ControlServer
        do {
            server = try ControlServer(node: node, path: socketPath)
        } catch {
            try await node.shutdown()
            throw error
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: node), .init(service: server)]
        let readyLine = "calf node ready socket=\(socketPath) root=\(rootPid)"
        let ready: @Sendable () async -> String
        if let httpAddress, let metrics {
            let token: BearerToken
            do {
                token = try BearerToken.loadOrCreate(at: tokenFile ?? data + "/http.token")
            } catch {
                try await node.shutdown()
                throw ValidationError(error.description)
            }
            let (ports, listening) = AsyncStream.makeStream(of: Int.self)
            services.append(.init(service: HTTPAPI.service(
                node: node, host: httpAddress.host, port: httpAddress.port, token: token, metrics: metrics.registry,
                flows: FlowCatalog(registry.durable),
                idleTimeout: .milliseconds(Int64(httpIdleTimeout * 1000)), logger: Logger(label: "calf.http"),
                onListening: { listening.yield($0) })))
            let host = httpAddress.host.contains(":") ? "[\(httpAddress.host)]" : httpAddress.host
            let publicURL = self.publicURL
            ready = {
                // Ends without a port if the group is cancelled (the API could not listen).
                var bound = ports.makeAsyncIterator()
                guard let port = await bound.next() else { return readyLine }
                if publicURL == nil { node.setCallbackBase("http://\(host):\(port)") }
                return readyLine + " http=http://\(host):\(port)"
            }
        } else {
            ready = { readyLine }
        }
        // The group stops its services in the reverse of this order: the watch says why, the
        // HTTP API and the control server stop taking requests, then the node stops in order.
        let watch = NodeWatch(node: node, readyLine: ready)
        services.append(.init(service: watch, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "calf")))
        NodeWatch.unblockStopSignals()
        try await group.run()
        if watch.rootExit != nil { throw ExitCode(1) }
    }
}
