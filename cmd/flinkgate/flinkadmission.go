package main

import (
	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/policy"
)

// flinkAdmission is the Flink operator setting the admission rules read:
// --flink-operator with --flink-service-account and
// --flink-allowed-service-accounts, for serve and check alike.
func flinkAdmission(mode flinkop.Mode, serviceAccount string, allowed []string) policy.FlinkOperator {
	return policy.FlinkOperator{On: mode == flinkop.ModeOn, ServiceAccount: serviceAccount, AllowedServiceAccounts: allowed}
}
