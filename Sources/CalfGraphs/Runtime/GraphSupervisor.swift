import Calf
import class Yams.YAMLDecoder

extension GraphSpec {
    /// The supervisor that runs this graph on a node: durable, `oneForOne`,
    /// with the graph's process `ID/graph` and each worker task's process
    /// `ID/TASK` (its behavior among `workers`, made from its config) as
    /// children, each restarted in place by replay when it crashes. A graph
    /// file's root is this supervisor; a tree file's `- graph:` entry is it
    /// as a child. The graph's host (`GraphHost`) finds these processes by name.
    /// - Throws: `GraphWorkerError` for a worker whose behavior is not among
    ///   `workers` or whose config does not decode.
    public func supervisor(dataDirectory: String, workers: [String: any GraphWorker.Type]) throws -> SupervisorSpec {
        var children: [ChildSpec] = [.durable("\(id)/graph", GraphProcess(id: id, dataDirectory: dataDirectory))]
        for task in tasks where task.kind == .worker {
            guard let name = task.behavior, let type = workers[name] else {
                throw GraphWorkerError(description: "worker \(task.id): '\(task.behavior ?? "")' is not a behavior that takes task outcomes (a GraphWorker the node knows)")
            }
            children.append(try Self.child(type, config: task.config, name: "\(id)/\(task.id)"))
        }
        return SupervisorSpec(id, strategy: .oneForOne, intensity: 10, period: .seconds(10), durable: true, children: children)
    }

    private static func child<W: GraphWorker>(_ type: W.Type, config: String?, name: String) throws -> ChildSpec {
        .durable(name, try GraphHost.worker(type, config: config, name: name))
    }
}
