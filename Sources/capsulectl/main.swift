import ArgumentParser
import CapsuleCTL

CapsuleCTLCommand.main()
