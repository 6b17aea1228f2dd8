"""Extract: context gathering from landing files (tickets, CRM, knowledge base)."""
