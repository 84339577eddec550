import ArgumentParser
import CapsuleCTL
import CapsuleRuntime

CapsuleCTLCommand.mainWithConfig(sharedOptions: CTLOptions.self)
