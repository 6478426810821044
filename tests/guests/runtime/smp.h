/* Bringing up application processors with INIT and SIPI. */
#pragma once

#include "interrupts.h"

/* Starts every AP (APIC IDs 1 .. cpu_count()-1). Each AP loads the IDT,
 * enables its LAPIC, counts itself in aps_online, enables interrupts, runs
 * `work(apic_id)` if given, then serves interrupts forever. Returns the number of APs that
 * came up before the wait ran out. */
uint32_t start_aps(void (*work)(uint32_t apic_id));
/* The same for a CPU count learnt elsewhere (fw_cfg, ACPI): APIC IDs 1 .. count-1. */
uint32_t start_cpus(uint32_t count, void (*work)(uint32_t apic_id));

extern volatile uint32_t aps_online;
