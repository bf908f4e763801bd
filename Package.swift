// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "aios-swift",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "aios", targets: ["aios"]),
        .executable(name: "aios-echo", targets: ["aios-echo"]),
        .library(name: "AIOSInstanceSDK", targets: ["AIOSInstanceSDK"]),
        .library(name: "AIOSModel", targets: ["AIOSModel"]),
        .library(name: "AIOSStore", targets: ["AIOSStore"]),
        .library(name: "AIOSMetrics", targets: ["AIOSMetrics"]),
        .library(name: "AIOSServer", targets: ["AIOSServer"]),
        .library(name: "AIOSClient", targets: ["AIOSClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        .target(
            name: "AIOSModel",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSQuery",
            dependencies: ["AIOSModel"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSPolicy",
            dependencies: [
                "AIOSModel", "AIOSMetrics", "CAIOSSpawn",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSPlacement",
            dependencies: [
                "AIOSModel", "AIOSQuery", "AIOSPolicy", "AIOSMetrics", "AIOSStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSWire",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "CAIOSSpawn"),
        .target(
            name: "AIOSRuntime",
            dependencies: [
                "AIOSModel", "AIOSStore", "AIOSWire", "CAIOSSpawn",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSKubernetes",
            dependencies: [
                "AIOSModel", "AIOSMetrics", "AIOSRuntime",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSInstanceSDK",
            dependencies: [
                "AIOSModel", "AIOSWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "aios-echo",
            dependencies: ["AIOSInstanceSDK", "AIOSModel"],
            path: "Sources/aios-echo",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSStore",
            dependencies: ["AIOSModel", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSMetrics",
            dependencies: [
                "AIOSModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSBlock",
            dependencies: [
                "AIOSModel", "AIOSMetrics", "AIOSPolicy", "AIOSRuntime", "AIOSStore", "AIOSWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSGateway",
            dependencies: [
                "AIOSBlock", "AIOSModel", "AIOSWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MultipartKit", package: "multipart-kit"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSVDAG",
            dependencies: [
                "AIOSModel", "AIOSQuery", "AIOSBlock", "AIOSGateway", "AIOSPolicy", "AIOSRuntime", "AIOSStore", "AIOSWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSSplits",
            dependencies: [
                "AIOSModel", "AIOSMetrics", "AIOSRuntime", "AIOSBlock", "AIOSGateway", "AIOSStore", "AIOSVDAG", "AIOSWire",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSAuth",
            dependencies: [
                "AIOSModel", "AIOSStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSServer",
            dependencies: [
                "AIOSAuth", "AIOSModel", "AIOSStore", "AIOSMetrics", "AIOSPolicy", "AIOSPlacement", "AIOSRuntime", "AIOSKubernetes",
                "AIOSBlock", "AIOSGateway", "AIOSVDAG", "AIOSSplits", "AIOSWire",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AIOSClient",
            dependencies: [
                "AIOSModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "aios",
            dependencies: [
                "AIOSServer", "AIOSClient", "AIOSModel", "AIOSPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "aios-bench",
            dependencies: [
                "AIOSModel", "AIOSQuery", "AIOSPlacement", "AIOSPolicy", "AIOSMetrics", "AIOSClient", "AIOSRuntime", "AIOSWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            path: "Sources/aios-bench",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AIOSModelTests",
            dependencies: ["AIOSModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AIOSQueryTests",
            dependencies: ["AIOSQuery", "AIOSModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AIOSPlacementTests",
            dependencies: ["AIOSPlacement", "AIOSPolicy", "AIOSQuery", "AIOSModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AIOSPolicyTests",
            dependencies: ["AIOSPolicy", "AIOSModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AIOSStoreTests",
            dependencies: ["AIOSStore", "AIOSModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AIOSBlockTests",
            dependencies: ["AIOSBlock", "AIOSModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AIOSVDAGTests",
            dependencies: ["AIOSVDAG", "AIOSModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AIOSSplitsTests",
            dependencies: ["AIOSSplits", "AIOSModel", "AIOSBlock", "AIOSWire"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AIOSRuntimeTests",
            dependencies: ["AIOSRuntime", "AIOSModel", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AIOSKubernetesTests",
            dependencies: ["AIOSKubernetes", "AIOSRuntime", "AIOSMetrics", "AIOSModel", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AIOSMetricsTests",
            dependencies: ["AIOSMetrics", "AIOSModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AIOSIntegrationTests",
            dependencies: [
                "AIOSModel", "AIOSWire", "AIOSRuntime", "AIOSKubernetes",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
