// swift-tools-version: 6.0
// The sample project of Supervisors/dev.yaml: a tiny shop service (a
// library, its unit tests, and a dev server) for a graph to build, test,
// lint and serve while you edit it. No dependencies: it builds offline.
import PackageDescription

let package = Package(
    name: "shop",
    targets: [
        .target(name: "Shop"),
        .executableTarget(name: "shop-server", dependencies: ["Shop"]),
        .testTarget(name: "ShopTests", dependencies: ["Shop"]),
    ]
)
