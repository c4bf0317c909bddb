-- Local compose stack only: one PostgreSQL server, one database and one login role per
-- service (each service owns its database and cannot connect to the others').
-- The passwords below are for this throwaway stack and match deploy/compose.yaml;
-- never reuse them. Run once by the postgres image on an empty data volume.

CREATE ROLE caseledger_case LOGIN PASSWORD 'case-local-only';
CREATE ROLE caseledger_referral LOGIN PASSWORD 'referral-local-only';
CREATE ROLE caseledger_disclosure LOGIN PASSWORD 'disclosure-local-only';
CREATE ROLE caseledger_notification LOGIN PASSWORD 'notification-local-only';

CREATE DATABASE caseledger_case OWNER caseledger_case;
CREATE DATABASE caseledger_referral OWNER caseledger_referral;
CREATE DATABASE caseledger_disclosure OWNER caseledger_disclosure;
CREATE DATABASE caseledger_notification OWNER caseledger_notification;

REVOKE CONNECT ON DATABASE caseledger_case FROM PUBLIC;
REVOKE CONNECT ON DATABASE caseledger_referral FROM PUBLIC;
REVOKE CONNECT ON DATABASE caseledger_disclosure FROM PUBLIC;
REVOKE CONNECT ON DATABASE caseledger_notification FROM PUBLIC;

GRANT CONNECT ON DATABASE caseledger_case TO caseledger_case;
GRANT CONNECT ON DATABASE caseledger_referral TO caseledger_referral;
GRANT CONNECT ON DATABASE caseledger_disclosure TO caseledger_disclosure;
GRANT CONNECT ON DATABASE caseledger_notification TO caseledger_notification;
