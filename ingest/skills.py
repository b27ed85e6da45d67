"""Built-in workplace skills: preferred display labels and the variants that mean the same skill.

Plain data, no logic: `ingest.canon` derives topic ids and match patterns from it, so adding a
skill is one line here. Labels are the preferred display form ("generative AI", "CI/CD");
their lower-cased form is the topic id. Singular/plural forms, British spellings, case,
hyphens, dots and slashes are handled by the rules in `ingest.canon`, so ALIASES only lists
variants those rules cannot derive (abbreviations, spelled-out forms, product renames).
"""

from __future__ import annotations

# fmt: off
# Preferred labels. Lower-cased, each is a topic id; keep them unique (a test checks).
SKILLS: tuple[str, ...] = (
    # -- AI and data ------------------------------------------------------------------------------------------
    "generative AI", "AI", "machine learning", "deep learning", "prompt engineering", "LLMs", "NLP",
    "computer vision", "RAG", "ChatGPT", "GitHub Copilot", "AI ethics", "responsible AI", "AI agents", "MLOps",
    "data science", "data analysis", "data visualization", "data engineering", "data governance", "data privacy",
    "data literacy", "data modeling", "statistics", "A/B testing", "SQL", "NoSQL", "PostgreSQL", "MySQL", "MongoDB",
    "Snowflake", "BigQuery", "Databricks", "Apache Spark", "Apache Kafka", "Airflow", "dbt", "ETL",
    "data warehousing", "Excel", "Google Sheets", "Power BI", "Tableau", "Looker", "pivot tables", "VLOOKUP",
    "pandas", "NumPy", "Jupyter", "scikit-learn", "PyTorch", "TensorFlow", "Hugging Face", "vector databases",
    "time series analysis",
    # -- software engineering ---------------------------------------------------------------------------------
    "Python", "Java", "JavaScript", "TypeScript", "C++", "C#", "Golang", "Rust", "Kotlin", "Swift", "Ruby",
    "Ruby on Rails", "PHP", "Scala", "HTML", "CSS", "React", "Angular", "Vue.js", "Node.js", "Next.js", "Django",
    "Flask", "FastAPI", "Spring Boot", ".NET", "GraphQL", "REST APIs", "API design", "microservices",
    "system design", "software architecture", "design patterns", "clean code", "refactoring", "code review",
    "unit testing", "test automation", "TDD", "debugging", "Git", "GitHub", "GitLab", "GitHub Actions", "Jenkins",
    "CI/CD", "DevOps", "SRE", "observability", "incident management", "on-call", "Kubernetes", "Docker",
    "Terraform", "Ansible", "infrastructure as code", "cloud computing", "cloud cost optimization", "AWS", "Azure",
    "Google Cloud", "serverless", "Linux", "shell scripting", "Bash", "cybersecurity", "penetration testing",
    "threat modeling", "identity and access management", "zero trust", "encryption", "security awareness",
    "mobile development", "iOS development", "Android development", "Flutter", "React Native", "web development",
    "frontend development", "backend development", "full-stack development", "web performance",
    "technical debt", "agile", "Scrum", "Kanban", "Jira", "Confluence", "sprint planning", "retrospectives",
    "technical writing", "documentation", "open source", "low-code", "no-code", "automation", "Zapier", "RPA",
    "blockchain", "quantum computing", "VS Code", "Salesforce", "SAP", "HubSpot", "Shopify", "WordPress",
    "ServiceNow",
    # -- product, design and UX -------------------------------------------------------------------------------
    "product management", "product discovery", "product roadmaps", "user stories", "requirements gathering",
    "UX design", "UI design", "UX research", "usability testing", "design thinking", "design systems", "Figma",
    "Adobe Photoshop", "Adobe Illustrator", "Canva", "Miro", "prototyping", "wireframing", "accessibility", "WCAG",
    "inclusive design", "information architecture", "service design", "interaction design",
    # -- marketing and communication --------------------------------------------------------------------------
    "digital marketing", "content marketing", "content strategy", "social media marketing",
    "short-video marketing", "TikTok", "Instagram", "YouTube", "LinkedIn", "influencer marketing", "SEO", "SEM",
    "Google Ads", "Google Analytics", "email marketing", "marketing automation", "copywriting", "storytelling",
    "brand strategy", "branding", "growth marketing", "performance marketing", "conversion rate optimization",
    "customer segmentation", "market research", "competitive analysis", "go-to-market strategy",
    "product marketing", "public relations", "internal communications", "crisis communication",
    "community management", "video editing", "podcasting", "personal branding",
    # -- collaboration tools and ways of working --------------------------------------------------------------
    "Slack", "Notion", "Microsoft Teams", "Zoom", "Google Workspace", "Microsoft 365", "Outlook", "SharePoint",
    "Trello", "Asana", "Monday.com", "Loom", "Airtable", "remote work", "hybrid work", "async communication",
    # -- business and finance ---------------------------------------------------------------------------------
    "budgeting", "forecasting", "financial planning", "financial modeling", "financial analysis", "accounting",
    "bookkeeping", "cash flow management", "P&L management", "cost reduction", "pricing strategy",
    "business cases", "business strategy", "strategic planning", "business development", "sales", "B2B sales",
    "account management", "customer success", "customer service", "customer experience", "CRM", "procurement",
    "vendor management", "supply chain management", "operations management", "process improvement", "Lean",
    "Six Sigma", "project management", "program management", "portfolio management", "risk management",
    "change management", "compliance", "GDPR", "contract management", "mergers and acquisitions", "fundraising",
    "investor relations", "entrepreneurship", "ESG", "sustainability", "KPIs", "OKRs", "unit economics",
    "due diligence", "business acumen", "financial literacy",
    # -- people, leadership and career ------------------------------------------------------------------------
    "leadership", "people management", "delegation", "stakeholder management", "negotiation",
    "conflict resolution", "difficult conversations", "giving feedback", "receiving feedback", "coaching",
    "reverse mentoring", "public speaking", "presentation skills", "facilitation",
    "workshop facilitation", "active listening", "emotional intelligence", "influencing", "executive presence",
    "decision making", "problem solving", "critical thinking", "systems thinking", "strategic thinking",
    "time management", "prioritization", "productivity", "goal setting", "career planning", "career development",
    "career change", "personal development", "networking", "interviewing", "hiring", "recruiting", "onboarding",
    "employer branding", "performance reviews", "performance management", "compensation", "salary negotiation",
    "talent development", "succession planning", "learning and development", "upskilling", "DEI",
    "inclusive leadership", "psychological safety", "team building", "employee engagement", "wellbeing",
    "burnout", "work-life balance", "resilience", "stress management", "managing up",
    "cross-functional collaboration", "remote team management", "intercultural communication",
    "business writing", "communication skills", "imposter syndrome", "one-on-ones", "organizational design",
    "workforce planning", "employee relations", "human resources", "innovation", "ethics", "team culture",
)

# Skills whose name is also an everyday English word ("the notion of", "some slack", "react to"):
# matched only when written exactly like this. Surface form -> preferred label.
CASED: dict[str, str] = {
    "Slack": "Slack", "Notion": "Notion", "Teams": "Microsoft Teams", "MS Teams": "Microsoft Teams",
    "Microsoft Teams": "Microsoft Teams", "Zoom": "Zoom", "Excel": "Excel", "Outlook": "Outlook", "Rust": "Rust",
    "Swift": "Swift", "Ruby": "Ruby", "React": "React", "Angular": "Angular", "Flask": "Flask",
    "Flutter": "Flutter", "Airflow": "Airflow", "Snowflake": "Snowflake", "Spark": "Apache Spark",
    "Kafka": "Apache Kafka", "Lean": "Lean", "SAP": "SAP", "Confluence": "Confluence", "Loom": "Loom",
}

# Variant (lower case) -> preferred label, for what the spelling rules in ingest.canon cannot derive.
ALIASES: dict[str, str] = {
    # AI and data
    "gen ai": "generative AI", "genai": "generative AI", "generative artificial intelligence": "generative AI",
    "artificial intelligence": "AI", "ml": "machine learning", "dl": "deep learning",
    "prompting": "prompt engineering", "prompt design": "prompt engineering", "llm": "LLMs",
    "large language models": "LLMs", "natural language processing": "NLP",
    "retrieval-augmented generation": "RAG", "retrieval augmented generation": "RAG", "chat gpt": "ChatGPT",
    "copilot": "GitHub Copilot", "data analytics": "data analysis", "dataviz": "data visualization",
    "data viz": "data visualization", "ab testing": "A/B testing", "split testing": "A/B testing",
    "postgres": "PostgreSQL", "mongo": "MongoDB",
    "apache airflow": "Airflow", "data warehouse": "data warehousing", "ms excel": "Excel",
    "microsoft excel": "Excel", "sklearn": "scikit-learn",
    "huggingface": "Hugging Face", "vector db": "vector databases", "vector store": "vector databases",
    "power bi desktop": "Power BI",
    # software engineering
    "js": "JavaScript", "ts": "TypeScript", "go lang": "Golang", "rails": "Ruby on Rails", "reactjs": "React",
    "react.js": "React", "angularjs": "Angular", "vue": "Vue.js", "nextjs": "Next.js",
    "dotnet": ".NET", "rest api": "REST APIs", "restful apis": "REST APIs", "code reviews": "code review",
    "test-driven development": "TDD", "test driven development": "TDD", "github actions ci": "GitHub Actions",
    "continuous integration": "CI/CD", "continuous delivery": "CI/CD", "continuous deployment": "CI/CD",
    "ci cd": "CI/CD", "site reliability engineering": "SRE", "k8s": "Kubernetes", "kube": "Kubernetes",
    "iac": "infrastructure as code", "amazon web services": "AWS", "gcp": "Google Cloud",
    "google cloud platform": "Google Cloud", "microsoft azure": "Azure", "cyber security": "cybersecurity",
    "infosec": "cybersecurity", "information security": "cybersecurity", "pen testing": "penetration testing",
    "pentesting": "penetration testing", "iam": "identity and access management", "ios": "iOS development",
    "android": "Android development", "front end": "frontend development", "frontend": "frontend development",
    "back end": "backend development", "backend": "backend development", "full stack": "full-stack development",
    "tech debt": "technical debt", "retros": "retrospectives", "retro": "retrospectives",
    "sprint retrospectives": "retrospectives", "oss": "open source",
    "robotic process automation": "RPA", "vscode": "VS Code", "visual studio code": "VS Code",
    # product, design and UX
    "roadmapping": "product roadmaps", "roadmaps": "product roadmaps", "ux": "UX design",
    "user experience": "UX design", "user experience design": "UX design", "ui": "UI design",
    "user interface design": "UI design", "user research": "UX research", "design system": "design systems",
    "photoshop": "Adobe Photoshop", "illustrator": "Adobe Illustrator", "a11y": "accessibility",
    "web accessibility": "accessibility", "web content accessibility guidelines": "WCAG",
    # marketing and communication
    "short-form video": "short-video marketing", "short-form video marketing": "short-video marketing",
    "short video": "short-video marketing", "short videos": "short-video marketing",
    "social media": "social media marketing", "search engine optimization": "SEO",
    "search engine marketing": "SEM", "adwords": "Google Ads", "ga4": "Google Analytics",
    "cro": "conversion rate optimization", "gtm strategy": "go-to-market strategy", "go-to-market": "go-to-market strategy",
    "gtm": "go-to-market strategy", "internal comms": "internal communications",
    "crisis comms": "crisis communication",
    # collaboration tools
    "g suite": "Google Workspace", "gsuite": "Google Workspace", "office 365": "Microsoft 365",
    "o365": "Microsoft 365", "m365": "Microsoft 365", "ms teams": "Microsoft Teams",
    "remote working": "remote work", "working remotely": "remote work", "hybrid working": "hybrid work",
    "asynchronous communication": "async communication",
    # business and finance
    "budget planning": "budgeting", "financial forecasting": "forecasting", "fp&a": "financial planning",
    "financial modelling": "financial modeling", "profit and loss": "P&L management", "p&l": "P&L management",
    "business case": "business cases", "customer relationship management": "CRM", "supply chain": "supply chain management",
    "lean six sigma": "Six Sigma", "m&a": "mergers and acquisitions",
    "environmental, social and governance": "ESG", "kpi": "KPIs", "key performance indicators": "KPIs",
    "okr": "OKRs", "objectives and key results": "OKRs",
    "general data protection regulation": "GDPR",
    # people, leadership and career
    "people leadership": "leadership", "team management": "people management",
    "managing people": "people management", "stakeholder engagement": "stakeholder management",
    "negotiating": "negotiation", "negotiations": "negotiation", "feedback conversations": "giving feedback",
    "public-speaking": "public speaking", "presenting": "presentation skills", "presentations": "presentation skills",
    "eq": "emotional intelligence", "emotional intelligence quotient": "emotional intelligence",
    "decision-making": "decision making", "problem-solving": "problem solving", "prioritizing": "prioritization",
    "career growth": "career development", "career progression": "career development",
    "career path": "career planning", "career paths": "career planning", "career switch": "career change",
    "recruitment": "recruiting", "talent acquisition": "recruiting", "job interviews": "interviewing",
    "performance appraisals": "performance reviews", "performance review": "performance reviews",
    "perf reviews": "performance reviews", "pay negotiation": "salary negotiation", "l&d": "learning and development",
    "reskilling": "upskilling", "diversity, equity and inclusion": "DEI", "diversity and inclusion": "DEI",
    "d&i": "DEI", "edi": "DEI", "well-being": "wellbeing", "burnout prevention": "burnout",
    "work life balance": "work-life balance", "impostor syndrome": "imposter syndrome", "1:1s": "one-on-ones",
    "1:1": "one-on-ones", "1-on-1s": "one-on-ones", "1-on-1": "one-on-ones", "one on ones": "one-on-ones",
    "org design": "organizational design", "hr": "human resources", "managing your manager": "managing up",
}
# fmt: on
