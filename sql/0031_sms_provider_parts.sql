-- The provider's own count of an SMS's parts (what it bills: Karaden's
-- charged_count_per_sent, or the generic gateway's generic_parts_path), shown to staff
-- beside the count we computed (sms_outbox.parts). NULL until the provider gives one.

ALTER TABLE sms_outbox ADD COLUMN provider_parts integer CHECK (provider_parts > 0);
