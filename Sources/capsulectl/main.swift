import ArgumentParser
import CapsuleCTL
import CapsuleDaemon
import CapsuleRuntime

CapsuleCTLCommand.mainWithConfig(sharedOptions: CTLOptions.self)
