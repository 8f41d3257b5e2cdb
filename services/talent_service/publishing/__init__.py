"""Publishing HR indicators to the KPI service as ``hr.*`` KPIs (DESIGN §9 "Published HR KPIs")."""
