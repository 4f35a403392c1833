// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "pgconnect",
    // Linux only: the socket code, the libpq/OpenSSL linking and the test server setup are
    // written and tested for Linux (glibc). No Apple platform is claimed.
    products: [
        .library(name: "PGConnect", targets: ["PGConnect"]),
        // pg_hba.conf / pg_ident.conf parser and simulator: pure Swift, no libpq, no OpenSSL.
        .library(name: "PGAuthFiles", targets: ["PGAuthFiles"]),
        .library(name: "PGDiagnostics", targets: ["PGDiagnostics"]),
        .executable(name: "pgconnect-check", targets: ["pgconnect-check"]),
        .executable(name: "pgconnect-exporter", targets: ["pgconnect-exporter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // The exporter only (pgconnect-check stays free of SwiftNIO). No default traits: the
        // exporter needs neither swift-configuration nor full Foundation.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // `swift package generate-documentation`: the DocC catalogs with the snippets of Snippets/.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .yum(["libpq-devel"]), .brew(["libpq"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .yum(["openssl-devel"]), .brew(["openssl@3"])]
        ),
        // String helpers shared by PGConnect and PGAuthFiles (package access only).
        .target(name: "PGSupport"),
        .target(name: "PGAuthFiles", dependencies: ["PGSupport"]),
        .target(
            name: "PGConnect",
            dependencies: [
                "PGSupport",
                "CLibPQ",
                "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "PGDiagnostics",
            dependencies: [
                "PGConnect",
                "PGAuthFiles",
                "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "pgconnect-check",
            dependencies: [
                "PGDiagnostics",
                "PGConnect",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "pgconnect-exporter",
            dependencies: [
                "PGDiagnostics",
                "PGConnect",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(name: "PGTestSupport", dependencies: ["PGConnect"], path: "Tests/PGTestSupport"),
        .testTarget(name: "PGConnectTests", dependencies: ["PGConnect", "CLibPQ", "PGTestSupport",
                                                        .product(name: "Metrics", package: "swift-metrics"),
                                                        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
        .testTarget(name: "PGAuthFilesTests", dependencies: ["PGAuthFiles", "PGTestSupport"]),
        .testTarget(name: "PGDiagnosticsTests", dependencies: ["PGDiagnostics", "PGTestSupport",
                                                            .product(name: "Logging", package: "swift-log"),
                                                            .product(name: "Metrics", package: "swift-metrics"),
                                                            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
                    exclude: ["Corpus"]),  // read by path (RealReportsCorpusTests)
        .testTarget(name: "pgconnect-checkTests", dependencies: ["pgconnect-check", "PGTestSupport"], exclude: ["Expected"]),
        // The exporter run as a real process and scraped over HTTP (needs the built binary).
        .testTarget(name: "pgconnect-exporterTests", dependencies: ["pgconnect-exporter", "PGTestSupport"]),
        // Benchmarks (scripts/bench.sh): raw libpq in C vs PGConnect, same measurements.
        .executableTarget(name: "pgconnect-bench-c", dependencies: ["CLibPQ"], path: "Benchmarks/CLibPQBench"),
        .executableTarget(name: "pgconnect-bench", dependencies: ["PGConnect", "PGDiagnostics"], path: "Benchmarks/PGConnectBench"),
        // scripts/fuzz.sh: a generated-input loop over the parsers and the certificate inspector.
        .executableTarget(name: "pgconnect-fuzz", dependencies: ["PGConnect", "PGDiagnostics", "PGTestSupport"], path: "Fuzz/PGConnectFuzz"),
    ],
    swiftLanguageModes: [.v6]
)
