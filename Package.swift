// swift-tools-version: 6.1
import CompilerPluginSupport
import PackageDescription

let package = Package(
    name: "Calf",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Calf", targets: ["Calf"]),
        .library(name: "CalfControl", targets: ["CalfControl"]),
        .library(name: "CalfLoop", targets: ["CalfLoop"]),
        .library(name: "CalfStore", targets: ["CalfStore"]),
        .library(name: "CalfCommands", targets: ["CalfCommands"]),
        .library(name: "CalfFlows", targets: ["CalfFlows"]),
        .executable(name: "calf", targets: ["calf"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // @JournalCoded (the CalfMacros plugin).
        .package(url: "https://github.com/swiftlang/swift-syntax", from: "603.0.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibUV",
            pkgConfig: "libuv",
            providers: [.apt(["libuv1-dev"])]
        ),
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        // The calf binary's allocator: glibc's malloc contends on its arena
        // locks when one thread frees what another allocated (a commit
        // batch, a message), which a node does all the time.
        .systemLibrary(
            name: "CMimalloc",
            providers: [.apt(["libmimalloc-dev"])]
        ),
        .target(name: "CalfLoop", dependencies: ["CLibUV"]),
        .target(name: "CCRC32C"),
        .target(name: "CalfStore", dependencies: ["CLMDB", "CCRC32C"]),
        .target(name: "CalfControl"),
        // The process runtime: node, schedulers, processes, links, monitors,
        // timers, names. Knows nothing of durability or supervision.
        .target(name: "CalfRuntime", dependencies: [
            "CalfControl", "CalfLoop",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Durable processes on the runtime: the commit writer, recovery,
        // durable timers, dead letters.
        .target(name: "CalfDurable", dependencies: [
            "CalfRuntime", "CalfControl", "CalfLoop", "CalfStore",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            // HMAC and SHA-256 for callback tokens.
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Supervision on both: supervisors, child specs, ports, trees.
        .target(name: "CalfSupervision", dependencies: [
            "CalfRuntime", "CalfDurable", "CalfControl", "CalfLoop", "CalfStore",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // @JournalCoded: writes a message's or a state's JournalCodable conformance.
        .macro(name: "CalfMacros", dependencies: [
            .product(name: "SwiftSyntax", package: "swift-syntax"),
            .product(name: "SwiftSyntaxMacros", package: "swift-syntax"),
            .product(name: "SwiftCompilerPlugin", package: "swift-syntax"),
            .product(name: "SwiftDiagnostics", package: "swift-syntax"),
        ]),
        // What a user imports: the layers above, re-exported, and @JournalCoded.
        .target(name: "Calf", dependencies: [
            "CalfRuntime", "CalfDurable", "CalfSupervision", "CalfControl", "CalfMacros",
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        .target(name: "CalfShell", dependencies: ["CalfControl"]),
        .target(name: "CalfOperator", dependencies: [
            "Calf", "CalfLoop", "CalfStore",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The node's HTTP API: the only module that imports SwiftNIO (through Hummingbird).
        .target(name: "CalfHTTP", dependencies: [
            "Calf", "CalfControl", "CalfFlows", "CalfOperator",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // Durable async flows: straight-line async code run by a deterministic
        // executor inside a durable process's turns (no NIO).
        .target(name: "CalfFlows", dependencies: [
            "Calf", "CalfStore",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Connectors: effects that reach other services (the HTTP request connector, AsyncHTTPClient).
        .target(name: "CalfConnectors", dependencies: [
            "Calf", "CalfFlows",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // Graphs of jobs, daemons and watched files: the file model, and its runtime on a node
        // (AsyncHTTPClient for daemons' `ready: { http: URL }` checks).
        .target(name: "CalfGraphs", dependencies: [
            "Calf", "CalfLoop", "CalfRuntime",
            .product(name: "Yams", package: "Yams"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .target(name: "Bank", dependencies: ["Calf"], path: "Examples/Bank"),
        .target(name: "Demo", dependencies: ["Calf"], path: "Examples/Demo"),
        // The dev-loop example's graph worker (Supervisors/dev.yaml).
        .target(name: "DevLoop", dependencies: ["Calf", "CalfGraphs"], path: "Examples/DevLoop/DevLoop"),
        .target(name: "RemoteJob", dependencies: ["Calf", "CalfConnectors", "CalfFlows"], path: "Examples/RemoteJob/RemoteJob"),
        // The RemoteJob example's remote job service (for its README section and tests).
        .executableTarget(name: "fake-jobs", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Examples/RemoteJob/FakeJobService"),
        .target(name: "CalfBenchmarks", dependencies: ["Calf", "CalfFlows", "CalfGraphs", "CalfLoop", "CalfStore"], path: "Benchmarks/CalfBenchmarks"),
        .target(
            name: "CalfCommands",
            dependencies: [
                "Calf",
                "CalfConnectors",
                "CalfFlows",
                "CalfGraphs",
                "CalfHTTP",
                "CalfOperator",
                "CalfShell",
                "CalfStore",
                "CalfBenchmarks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(name: "calf", dependencies: ["CalfCommands", "Bank", "Demo", "DevLoop", "RemoteJob", "CMimalloc"]),
        .executableTarget(name: "JobRunner", dependencies: ["Calf"], path: "Examples/JobRunner"),
        .executableTarget(name: "PingPong", dependencies: ["Calf"], path: "Examples/PingPong"),
        .executableTarget(name: "Ring", dependencies: ["Calf"], path: "Examples/Ring"),
        .testTarget(name: "CalfLoopTests", dependencies: ["CalfLoop", "CLibUV"]),
        .testTarget(name: "CalfStoreTests", dependencies: ["CalfStore"]),
        .testTarget(name: "CalfGraphsTests", dependencies: ["CalfGraphs"]),
        .testTarget(name: "CalfTests", dependencies: [
            "Calf", "CalfFlows", "CalfRuntime", "CalfDurable", "CalfSupervision", "CalfLoop", "CalfStore",
            .product(name: "MetricsTestKit", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "CalfControlTests", dependencies: ["CalfControl"]),
        .testTarget(name: "CalfMacrosTests", dependencies: [
            "CalfMacros",
            .product(name: "SwiftSyntaxMacros", package: "swift-syntax"),
            .product(name: "SwiftSyntaxMacroExpansion", package: "swift-syntax"),
            .product(name: "SwiftSyntaxMacrosGenericTestSupport", package: "swift-syntax"),
        ]),
        .testTarget(name: "CalfConnectorsTests", dependencies: [
            "Calf", "CalfConnectors",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .testTarget(name: "CalfShellTests", dependencies: ["CalfShell"]),
        .testTarget(name: "CalfOperatorTests", dependencies: ["CalfOperator"]),
        .testTarget(name: "CalfEndToEndTests", dependencies: [
            "calf", "Calf", "CalfFlows", "CalfOperator", "CalfShell", "CalfStore",
            .product(name: "Yams", package: "Yams"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
